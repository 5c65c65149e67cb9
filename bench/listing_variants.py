"""Benchmark: the catalog listing with variants at 100k products, on PostgreSQL.

Fills a scratch database with the catalogue ``services/catalog/tests/test_listing_plan.py``
proves its indexes on (100k products x 3 variants, sizes S/M/L and one of 37 colours, prices
in EUR and USD, stock), vacuums it, then times the listing's own SQL (the statements
``product.repository.listing_statement`` and ``product.facets_sql.facet_statements`` build,
so what the service runs) straight on the database, without HTTP or the cache:

- ``facets``: both grouped reads of one filter, i.e. an uncached facet computation;
- ``page``: the first page (20 rows) of that filter by name.

Each case runs ``--repeat`` times after one warm-up; the figures are the median and the
slowest wall time (client side, rows fetched) and the median ``EXPLAIN ANALYZE`` execution
time (server side, what the machine's other load disturbs least). Writes
``bench/results/listing_variants.{json,md}`` (``--label`` names the run, e.g. before/after
a change; runs with other labels already in the file are kept beside it).

Needs ``var/infra.env`` loaded (``EMPORIUM_POSTGRES_URL``). The scratch database is dropped
at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import Executable, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from emporium.catalog.product.facets_sql import facet_statements
from emporium.catalog.product.repository import ListingQuery, listing_statement
from emporium.catalog.testing import MIGRATIONS
from emporium.catalog.variants.options import parse_option_filters
from emporium.kit.migrations import upgrade_to_head

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
PLAN_TEST = ROOT / "services/catalog/tests/test_listing_plan.py"


def _fill_sql() -> str:
    """The plan test's catalogue (one definition of it, so both measure the same data)."""
    spec = importlib.util.spec_from_file_location("listing_plan_fill", PLAN_TEST)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.FILL)


def _query(**changes: Any) -> ListingQuery:
    values: dict[str, Any] = {
        "category_ids": None, "q": None, "min_price": None, "max_price": None,
        "in_stock": None, "sort": "name", "after": None, "limit": 20,
    }  # fmt: skip
    values.update(changes)
    return ListingQuery(**values)


def _options(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"options": parse_option_filters((f"option.{n}", v) for n, v in pairs)}


def cases(category: uuid.UUID) -> dict[str, ListingQuery]:
    return {
        "unfiltered": _query(),
        "category": _query(category_ids=[category]),
        "option.size=M": _query(**_options(("size", "M"))),
        "option.colour=colour5": _query(**_options(("colour", "colour5"))),
        "option.size=M&option.colour=colour5": _query(
            **_options(("size", "M"), ("colour", "colour5"))
        ),
        "category&option.size=M": _query(category_ids=[category], **_options(("size", "M"))),
        "in_stock&option.size=M": _query(in_stock=True, **_options(("size", "M"))),
        "USD price range": _query(currency="USD", min_price=100, max_price=900),
    }


def _sql(statement: Executable) -> str:
    compiled = statement.compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


@dataclass
class Figure:
    label: str
    case: str
    kind: str  # facets | page
    median_ms: float
    max_ms: float
    server_median_ms: float
    rows: int


async def _time(conn: AsyncConnection, sqls: list[str], repeat: int) -> tuple[list[float], int]:
    walls, rows = [], 0
    for i in range(repeat + 1):
        start = time.perf_counter()
        rows = 0
        for sql in sqls:
            rows += len((await conn.execute(text(sql))).all())
        if i:  # the first run warms the caches
            walls.append((time.perf_counter() - start) * 1000)
    return walls, rows


async def _server(conn: AsyncConnection, sqls: list[str], repeat: int) -> float:
    totals = []
    for _ in range(max(3, repeat // 2)):
        total = 0.0
        for sql in sqls:
            plan = (await conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"))).scalar()
            total += float(plan[0]["Execution Time"])
        totals.append(total)
    return statistics.median(totals)


async def measure(url: str, label: str, repeat: int, show_plans: bool) -> list[Figure]:
    engine = create_async_engine(url)
    figures = []
    try:
        async with engine.connect() as conn:
            category = (
                await conn.execute(text("SELECT id FROM category ORDER BY slug LIMIT 1"))
            ).scalar_one()
            for name, query in cases(category).items():
                kinds: dict[str, Callable[[], list[Executable]]] = {
                    "facets": lambda q=query: list(facet_statements(q, postgres=True)),
                    "page": lambda q=query: [listing_statement(q, postgres=True)],
                }
                for kind, build in kinds.items():
                    sqls = [_sql(s) for s in build()]
                    walls, rows = await _time(conn, sqls, repeat)
                    server = await _server(conn, sqls, repeat)
                    figures.append(
                        Figure(label, name, kind, round(statistics.median(walls), 2),
                               round(max(walls), 2), round(server, 2), rows)
                    )  # fmt: skip
                    last = figures[-1]
                    print(
                        f"{label:>8} {kind:>6} {name:<40} median {last.median_ms:8.2f} ms"
                        f"  max {last.max_ms:8.2f}  server {server:8.2f}  rows {rows}"
                    )
                    if show_plans:
                        for sql in sqls:
                            plan = await conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"))
                            print("\n".join(r[0] for r in plan))
    finally:
        await engine.dispose()
    return figures


async def fill(admin_url: str, name: str) -> str:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = admin_url.rpartition("/")
    url = f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, url)
    engine = create_async_engine(url)
    try:
        started = time.perf_counter()
        async with engine.begin() as conn:
            for statement in _fill_sql().split(";\n"):
                if statement.strip():
                    await conn.execute(text(statement))
        async with engine.connect() as conn:
            vacuum = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await vacuum.execute(text("VACUUM ANALYZE"))
        print(f"filled {name} in {time.perf_counter() - started:.1f} s")
    finally:
        await engine.dispose()
    return url


async def drop(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def write(figures: list[Figure], label: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "listing_variants.json"
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    runs: dict[str, Any] = {k: v for k, v in old.get("runs", {}).items() if k != label}
    runs[label] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the end",
        "figures": [asdict(f) for f in figures],
    }
    path.write_text(json.dumps({"runs": runs}, indent=2) + "\n", encoding="utf-8")
    render(runs)


def render(runs: dict[str, Any]) -> None:
    """``listing_variants.md`` from the runs of ``listing_variants.json``."""
    lines = [
        "# Catalog listing with variants at 100k products (PostgreSQL, no cache)",
        "",
        "`uv run --frozen python bench/listing_variants.py --label <name>`; the catalogue of",
        "`services/catalog/tests/test_listing_plan.py`. `facets` = both grouped reads of the",
        "filter (an uncached facet computation), `page` = its first page by name (20 rows).",
        "Median and slowest wall time over the repeats (client side), median server-side",
        "`EXPLAIN ANALYZE` execution time.",
        "",
    ]
    for name, run in runs.items():
        lines += [
            f"## {name}",
            "",
            f"{run['when']}; {run['machine']}.",
            "",
            "| case | what | median | slowest | server |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {f['case']} | {f['kind']} | {f['median_ms']} ms | {f['max_ms']} ms "
            f"| {f['server_median_ms']} ms |"
            for f in run["figures"]
        ]
        lines.append("")
    (RESULTS / "listing_variants.md").write_text("\n".join(lines), encoding="utf-8")


async def main(args: argparse.Namespace) -> None:
    admin_url = os.environ.get("EMPORIUM_POSTGRES_URL")
    if not admin_url:
        raise SystemExit("EMPORIUM_POSTGRES_URL is not set: load var/infra.env first")
    name = args.database or f"bench_listing_{uuid.uuid4().hex[:8]}"
    base, _, _ = admin_url.rpartition("/")
    if args.database:  # an existing filled database (from --keep)
        url = f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    else:
        url = await fill(admin_url, name)
    try:
        figures = await measure(url, args.label, args.repeat, args.plans)
        write(figures, args.label)
    finally:
        if args.keep or args.database:
            print(f"kept database {name} (reuse with --database {name})")
        else:
            await drop(admin_url, name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--label", default="latest", help="the run's name in the results")
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per case")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--database", help="measure this filled database (no fill, no drop)")
    parser.add_argument("--plans", action="store_true", help="print EXPLAIN ANALYZE plans")
    asyncio.run(main(parser.parse_args()))
