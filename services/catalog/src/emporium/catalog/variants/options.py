"""Product options (``size``: S, M, L) and the option values of each variant, and the
listing's ``option.<name>=<value>`` filters, as pure rules.

Names and values are compared by their *key*: trimmed, Unicode NFC, case-folded (``Size``,
`` size `` and ``SIZE`` are one name; ``Straße`` and ``STRASSE`` one value). The stored rows
keep what the merchant typed for display and carry the key beside it, computed here, so
that SQL compares keys with ``=`` and never depends on the database's ``lower()``.

Limits (chosen to keep the variant matrix and the listing's filter bounded, the same order
as Shopify's and Saleor's): a product has at most ``MAX_OPTIONS`` = 3 options of at most
``MAX_VALUES`` = 50 values each, and at most ``MAX_VARIANTS`` = 250 variants; a name or a
value is 1 to 50 characters after trimming, with no control characters.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "FILTER_PREFIX",
    "MAX_LENGTH",
    "MAX_OPTIONS",
    "MAX_VALUES",
    "MAX_VARIANTS",
    "Combination",
    "OptionError",
    "OptionFilters",
    "ProductOption",
    "duplicate_combinations",
    "key",
    "parse_option_filters",
    "product_options",
    "variant_combination",
]

MAX_OPTIONS = 3
MAX_VALUES = 50
MAX_VARIANTS = 250
MAX_LENGTH = 50
#: The listing's query parameters that filter by option: ``option.size=M``.
FILTER_PREFIX = "option."


class OptionError(ValueError):
    """Options or a filter that break a rule; ``field`` names what is wrong (a body path
    such as ``options[1].values[0]`` or a query parameter such as ``option.size``) so the
    endpoint can answer a 422 problem pointing at it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _clean(text: str, field: str, what: str) -> str:
    """``text`` trimmed and NFC-normalised; OptionError if empty, too long or with control
    characters (tabs and newlines included: a name or value is one line of a picker)."""
    cleaned = unicodedata.normalize("NFC", text.strip())
    if not cleaned:
        raise OptionError(field, f"an option {what} cannot be empty")
    if len(cleaned) > MAX_LENGTH:
        raise OptionError(field, f"an option {what} is at most {MAX_LENGTH} characters")
    if any(unicodedata.category(char).startswith("C") for char in cleaned):
        raise OptionError(field, f"an option {what} cannot contain control characters")
    return cleaned


def key(text: str) -> str:
    """What names and values are compared by (and what the ``*_key`` columns hold)."""
    return unicodedata.normalize("NFC", text.strip()).casefold()


@dataclass(frozen=True)
class ProductOption:
    """One option of a product: its name and its values in the merchant's order."""

    name: str
    values: tuple[str, ...]

    @property
    def key(self) -> str:
        return key(self.name)

    def value_named(self, value: str) -> str | None:
        """The stored spelling of ``value`` (compared by key), None if not one of ours."""
        wanted = key(value)
        return next((v for v in self.values if key(v) == wanted), None)


def product_options(options: Sequence[tuple[str, Sequence[str]]]) -> tuple[ProductOption, ...]:
    """A product's options checked and cleaned: at most ``MAX_OPTIONS``, names unique by key,
    each with 1 to ``MAX_VALUES`` values unique by key within it (order kept)."""
    if len(options) > MAX_OPTIONS:
        raise OptionError("options", f"a product has at most {MAX_OPTIONS} options")
    cleaned: list[ProductOption] = []
    names: set[str] = set()
    for i, (raw_name, raw_values) in enumerate(options):
        name = _clean(raw_name, f"options[{i}].name", "name")
        if key(name) in names:
            raise OptionError(f"options[{i}].name", f"the option {name!r} is named twice")
        names.add(key(name))
        if not 1 <= len(raw_values) <= MAX_VALUES:
            raise OptionError(f"options[{i}].values", f"an option has 1 to {MAX_VALUES} values")
        values: list[str] = []
        seen: set[str] = set()
        for j, raw_value in enumerate(raw_values):
            value = _clean(raw_value, f"options[{i}].values[{j}]", "value")
            if key(value) in seen:
                raise OptionError(
                    f"options[{i}].values[{j}]", f"{value!r} is a value of {name!r} twice"
                )
            seen.add(key(value))
            values.append(value)
        cleaned.append(ProductOption(name, tuple(values)))
    return tuple(cleaned)


@dataclass(frozen=True)
class Combination:
    """A variant's option values, one per product option in the product's option order:
    ``values`` as stored (for display and events), ``key`` what duplicates compare by."""

    names: tuple[str, ...]
    values: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(key(value) for value in self.values)

    def as_mapping(self) -> dict[str, str]:
        """The API's ``options`` {name: value} of the variant."""
        return dict(zip(self.names, self.values, strict=True))


def variant_combination(options: Sequence[ProductOption], given: Mapping[str, str]) -> Combination:
    """A variant's ``options`` {name: value} checked against its product's options: exactly
    one value per option, each among that option's values (names and values by key). A
    product without options has one combination, the empty one."""
    by_key: dict[str, tuple[str, str]] = {}
    for raw_name, raw_value in given.items():
        name_key = key(raw_name)
        if name_key in by_key:
            raise OptionError(f"options.{raw_name}", "the option is given twice")
        by_key[name_key] = (raw_name, raw_value)
    values: list[str] = []
    for option in options:
        if option.key not in by_key:
            raise OptionError(f"options.{option.name}", "a variant needs a value of every option")
        raw_name, raw_value = by_key.pop(option.key)
        value = option.value_named(raw_value)
        if value is None:
            raise OptionError(
                f"options.{raw_name}",
                f"{raw_value.strip()!r} is not a value of {option.name!r}: one of "
                + ", ".join(option.values),
            )
        values.append(value)
    if by_key:
        raw_name = next(iter(by_key.values()))[0]
        raise OptionError(f"options.{raw_name}", "the product has no such option")
    return Combination(tuple(option.name for option in options), tuple(values))


def duplicate_combinations(combinations: Iterable[Combination]) -> list[Combination]:
    """The combinations that repeat an earlier one (by key), in order: a variant created or
    changed to one of these is the 409 "duplicate option combination"."""
    seen: set[tuple[str, ...]] = set()
    repeated: list[Combination] = []
    for combination in combinations:
        if combination.key in seen:
            repeated.append(combination)
        seen.add(combination.key)
    return repeated


class OptionFilters(Mapping[str, frozenset[str]]):
    """The listing's option filters in canonical form: name key → the value keys asked.

    Different names must all hold (AND), several values of one name are alternatives (OR),
    and both on one variant (``matches``). Immutable and hashable (it will be part of the
    listing's cache key); equal however the query spelled and ordered it.
    """

    __slots__ = ("_terms",)

    def __init__(self, terms: Mapping[str, frozenset[str]] | None = None) -> None:
        self._terms: dict[str, frozenset[str]] = dict(sorted((terms or {}).items()))

    def __getitem__(self, name: str) -> frozenset[str]:
        return self._terms[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._terms)

    def __len__(self) -> int:
        return len(self._terms)

    def __hash__(self) -> int:
        return hash(frozenset(self._terms.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, OptionFilters):
            return self._terms == other._terms
        return NotImplemented

    def __repr__(self) -> str:
        inner = ", ".join(f"{n!r}: {sorted(v)!r}" for n, v in self._terms.items())
        return f"OptionFilters({{{inner}}})"

    def matches(self, variants: Iterable[Mapping[str, str]]) -> bool:
        """Whether a product whose variants have these option values passes the filter:
        some single variant has, for every filtered name, one of the asked values (a red S
        and a blue M do not make a product match ``colour=red&size=M``)."""
        for variant in variants:
            keyed = {key(name): key(value) for name, value in variant.items()}
            if all(keyed.get(name) in values for name, values in self._terms.items()):
                return True
        return not self._terms


def parse_option_filters(params: Iterable[tuple[str, str]]) -> OptionFilters:
    """The ``option.<name>=<value>`` pairs among a query's parameters (in any order,
    repeatable; others ignored) as ``OptionFilters``; OptionError naming the parameter for
    an empty or over-long name or value, or more than ``MAX_OPTIONS`` names (no product
    could match them all) or ``MAX_VALUES`` values of one name.

    A name no product has is no error: it matches nothing, as an unknown value does.
    """
    terms: dict[str, set[str]] = {}
    for parameter, raw_value in params:
        if not parameter.startswith(FILTER_PREFIX):
            continue
        name = _clean(parameter[len(FILTER_PREFIX) :], parameter, "name")
        value = _clean(raw_value, parameter, "value")
        values = terms.setdefault(key(name), set())
        values.add(key(value))
        if len(terms) > MAX_OPTIONS:
            raise OptionError(parameter, f"filter by at most {MAX_OPTIONS} option names")
        if len(values) > MAX_VALUES:
            raise OptionError(parameter, f"filter by at most {MAX_VALUES} values of one option")
    return OptionFilters({name: frozenset(values) for name, values in terms.items()})
