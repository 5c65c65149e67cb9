"""The listing's facets in SQL equal the reference ``count_facets`` (itself checked against
a brute-force count) for generated catalogues written through the API, on SQLite and
PostgreSQL, filtered by options and category or not."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from emporium.catalog.listing_facets import FacetRow, count_facets
from emporium.catalog.testing import Catalog
from emporium.catalog.variants.options import OptionFilters, key, parse_option_filters

NAMES = ["size", "Size", "colour", "material"]
VALUES = ["s", "S", "m", "red", "Red ", "blue", "cotton"]
CATEGORIES = ["shirts", "mugs", "hats"]
_skus = itertools.count(1)


@dataclass(frozen=True)
class Drawn:
    category: str | None
    options: list[tuple[str, list[str]]]  # name, values unique by key
    extra: list[dict[str, str]]  # the variants beyond the first (first values)


@st.composite
def products(draw: st.DrawFn) -> Drawn:
    names = draw(st.lists(st.sampled_from(NAMES), max_size=3, unique_by=key))
    options = [
        (name, draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=3, unique_by=key)))
        for name in names
    ]

    def combination(combo: dict[str, str]) -> tuple[str, ...]:
        return tuple(key(combo[name]) for name, _ in options)

    combos = draw(
        st.lists(
            st.fixed_dictionaries({name: st.sampled_from(values) for name, values in options}),
            max_size=3,
            unique_by=combination,
        )
    )
    first = combination({name: values[0] for name, values in options})
    extra = [c for c in combos if combination(c) != first] if options else []
    return Drawn(draw(st.none() | st.sampled_from(CATEGORIES)), options, extra)


filters = st.lists(
    st.tuples(st.sampled_from([f"option.{n}" for n in NAMES]), st.sampled_from(VALUES)),
    max_size=3,
)


async def _categories(catalog: Catalog) -> dict[str, str]:
    listed = (await catalog.client.get("/categories")).json()
    ids = {c["slug"]: c["id"] for c in listed}
    for slug in CATEGORIES:
        if slug not in ids:
            ids[slug] = (await catalog.category(slug))["id"]
    return ids


async def _write(catalog: Catalog, drawn: Drawn, categories: dict[str, str]) -> dict[str, Any]:
    """The drawn product through the API, answered as ``GET /products/{id}`` has it."""
    product = await catalog.product(
        sku=f"F-{next(_skus)}",
        options=[{"name": n, "values": v} for n, v in drawn.options],
        category_id=categories[drawn.category] if drawn.category else None,
    )
    for combo in drawn.extra:
        response = await catalog.client.post(
            f"/admin/products/{product['id']}/variants",
            json={"sku": f"F-{next(_skus)}", "options": combo,
                  "prices": [{"amount": 100, "currency": "EUR"}]},
            headers=catalog.admin,
        )  # fmt: skip
        assert response.status_code == 201, response.text
    answer: dict[str, Any] = (await catalog.client.get(f"/products/{product['id']}")).json()
    return answer


def _rows(answer: dict[str, Any], slugs: dict[str, str]) -> list[FacetRow]:
    category = answer["category_id"]
    cid = UUID(category) if category else None
    return [
        FacetRow(UUID(answer["id"]), cid, slugs.get(category) if category else None, v["options"])
        for v in answer["variants"]
    ]


@settings(
    max_examples=20,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example costs ~1 s
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    catalogue=st.lists(products(), max_size=6),
    pairs=filters,
    category=st.none() | st.sampled_from(CATEGORIES),
)
async def test_sql_facets_equal_the_reference(
    catalog: Catalog, catalogue: list[Drawn], pairs: list[tuple[str, str]], category: str | None
) -> None:
    categories = await _categories(catalog)
    slugs = {cid: slug for slug, cid in categories.items()}
    answers = [await _write(catalog, drawn, categories) for drawn in catalogue]
    try:
        chosen: OptionFilters = parse_option_filters(pairs)
        matching = [
            a
            for a in answers
            if chosen.matches([v["options"] for v in a["variants"]])
            and (category is None or a["category_id"] == categories[category])
        ]
        expected = count_facets(row for a in matching for row in _rows(a, slugs)).to_api()
        params: list[tuple[str, str]] = [*pairs, *([("category", category)] if category else [])]
        listing = await catalog.client.get("/products", params=params)
        assert listing.status_code == 200, listing.text
        assert listing.json()["facets"] == expected
    finally:  # the next example starts from an empty catalogue
        for answer in answers:
            await catalog.client.delete(f"/admin/products/{answer['id']}", headers=catalog.admin)
