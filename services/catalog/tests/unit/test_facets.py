"""The listing's facets: equal to a brute-force count over generated catalogues."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emporium.catalog.listing_facets import (
    CategoryCount,
    FacetRow,
    Facets,
    ValueCount,
    count_facets,
)
from emporium.catalog.variants.options import OptionFilters, key, parse_option_filters

SHIRTS = UUID(int=100)
MUGS = UUID(int=200)


@dataclass(frozen=True)
class Product:
    id: UUID
    category: tuple[UUID, str] | None
    variants: tuple[dict[str, str], ...]


def rows_of(products: list[Product]) -> list[FacetRow]:
    rows = []
    for p in products:
        cid, slug = p.category or (None, None)
        for options in p.variants or ({},):
            rows.append(FacetRow(p.id, cid, slug, options))
    return rows


NAMES = ["size", "Size", "colour", "material"]
VALUES = ["s", "S", "m", "red", "Red ", "blue", "cotton"]
CATEGORIES = [(UUID(int=n), slug) for n, slug in [(1, "shirts"), (2, "mugs"), (3, "hats")]]


@st.composite
def catalogues(draw: st.DrawFn) -> list[Product]:
    products = []
    for n in range(draw(st.integers(0, 12))):
        names = draw(st.lists(st.sampled_from(NAMES), max_size=3, unique_by=key))
        variants = draw(
            st.lists(st.fixed_dictionaries({name: st.sampled_from(VALUES) for name in names}),
                     max_size=4)
        )  # fmt: skip
        category = draw(st.none() | st.sampled_from(CATEGORIES))
        products.append(Product(UUID(int=1000 + n), category, tuple(variants)))
    return products


filters = st.lists(
    st.tuples(st.sampled_from(NAMES).map(lambda n: f"option.{n}"), st.sampled_from(VALUES)),
    max_size=3,
).map(parse_option_filters)


def brute_force(products: list[Product]) -> dict[str, object]:
    """Counted the slow, obvious way: for each category and each (name, value) key, the
    number of products having it; labels are the smallest spelling seen."""
    categories = {c for p in products if p.category for c in [p.category]}
    category_counts = [
        {
            "id": str(cid),
            "slug": slug,
            "count": sum(1 for p in products if p.category == (cid, slug)),
        }
        for cid, slug in categories
    ]
    category_counts.sort(key=lambda c: (-int(str(c["count"])), str(c["slug"])))
    options: dict[str, list[dict[str, object]]] = {}
    name_keys = sorted({key(n) for p in products for v in p.variants for n in v})
    for name_key in name_keys:
        label = min(
            n.strip() for p in products for v in p.variants for n in v if key(n) == name_key
        )
        value_keys = {key(val) for p in products for v in p.variants for n, val in v.items()
                      if key(n) == name_key}  # fmt: skip
        counted = []
        for value_key in value_keys:
            having = [p for p in products
                      if any(key(n) == name_key and key(val) == value_key
                             for v in p.variants for n, val in v.items())]  # fmt: skip
            spelling = min(val.strip() for p in having for v in p.variants for n, val in v.items()
                           if key(n) == name_key and key(val) == value_key)  # fmt: skip
            counted.append((-len(having), value_key, {"value": spelling, "count": len(having)}))
        options[label] = [entry for *_, entry in sorted(counted, key=lambda c: c[:2])]
    return {"categories": category_counts, "options": options}


@settings(max_examples=300, deadline=None)
@given(catalogues(), filters)
def test_facets_equal_a_brute_force_count_of_the_filtered_result(
    catalogue: list[Product], option_filters: OptionFilters
) -> None:
    filtered = [p for p in catalogue if option_filters.matches(p.variants)]
    assert count_facets(rows_of(filtered)).to_api() == brute_force(filtered)


def test_a_product_counts_once_per_value_however_many_variants_have_it() -> None:
    shirt = Product(
        UUID(int=1),
        (SHIRTS, "shirts"),
        ({"Size": "S", "Colour": "Red"}, {"Size": "M", "Colour": "Red"}),
    )
    other = Product(UUID(int=2), (SHIRTS, "shirts"), ({"size": "m", "colour": "Blue"},))
    mug = Product(UUID(int=3), (MUGS, "mugs"), ())
    loose = Product(UUID(int=4), None, ({"Colour": "red"},))
    assert count_facets(rows_of([shirt, other, mug, loose])) == Facets(
        categories=(CategoryCount(SHIRTS, "shirts", 2), CategoryCount(MUGS, "mugs", 1)),
        options={
            "Colour": (ValueCount("Red", 2), ValueCount("Blue", 1)),
            "Size": (ValueCount("M", 2), ValueCount("S", 1)),
        },
    )


def test_an_empty_result_has_empty_facets() -> None:
    assert count_facets([]).to_api() == {"categories": [], "options": {}}


def test_rows_of_two_reads_are_refused() -> None:
    rows = [FacetRow(UUID(int=1), SHIRTS, "shirts"), FacetRow(UUID(int=1), MUGS, "mugs")]
    with pytest.raises(ValueError, match="two categories"):
        count_facets(rows)
