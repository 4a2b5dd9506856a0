"""Search with a filter and facets at storage level (scripts/bench --only facets).

DESIGN.md: p95 under 20 ms for a search with a filter and three facets at 100,000
products, on both engines. On a copy of the data set's 100,000 products (the default
data set when it is cached, else its products with a small history, as bench/
suggestions.py), this times `collector.storage.search.search_page`, the function
search/search calls, for:

- plain: a one-word query, no filter, no facets (the reference);
- filter + 3 facets: the query, a price filter, facets brand, price and categories;
- 2 brands + price, multiselect: the query narrowed to its two commonest brands and a
  price range, as the search page's UI writes it, with brand and price multiselect.

Each cached (the per-process caches kept: facet answers, counts, corrections) and
uncached (emptied before every call). On SQLite; with BENCH_POSTGRES_URL, also on a
PostgreSQL copy (the search tables, product_values and categories). p50 and p95 (nearest
rank) in ms.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from . import dataset, search_storage, suggestions
from .common import percentile

TARGET_P95_MS = 20.0
QUERY = "jacket"
FACETS = ("brand", "price", "categories")


def _cases(engine: Any, store_id: int) -> list[tuple[str, dict[str, Any]]]:
    from collector import filters
    from collector.storage.search import Narrowing, search_page

    with engine.connect() as conn:
        found = search_page(
            conn,
            store_id=store_id,
            query=QUERY,
            prefix=False,
            limit=10,
            narrowing=Narrowing(facets=("brand",)),
        )
    assert found.facets is not None
    brands = [v["value"] for v in found.facets["brand"][:2]]
    two = filters.canonical(filters.In("brand", tuple(brands)))
    chosen = filters.parse(f"({two}) and (price >= 20 and price <= 199.99)")
    return [
        ("plain", {}),
        (
            "filter + 3 facets",
            {"narrowing": Narrowing(filters.parse("price <= 150"), None, FACETS)},
        ),
        (
            "2 brands + price, multiselect",
            {"narrowing": Narrowing(chosen, None, FACETS, ("brand", "price"))},
        ),
    ]


def measure(engine: Any, store_id: int, requests: int, log: Any) -> list[dict[str, Any]]:
    from collector.storage.caches import clear_all
    from collector.storage.search import search_page

    def call(args: dict[str, Any]) -> tuple[float, int]:
        started = time.perf_counter()
        with engine.connect() as conn:
            found = search_page(
                conn, store_id=store_id, query=QUERY, prefix=False, limit=10, **args
            )
        return (time.perf_counter() - started) * 1000, found.count

    results = []
    for name, args in _cases(engine, store_id):
        cached: list[float] = []
        uncached: list[float] = []
        total = call(args)[1]
        for _ in range(requests):
            clear_all()
            uncached.append(call(args)[0])
            cached.append(call(args)[0])
        result = {
            "case": name,
            "count": total,
            "cached": {q: round(percentile(cached, q), 2) for q in (50, 95)},
            "uncached": {q: round(percentile(uncached, q), 2) for q in (50, 95)},
        }
        results.append(result)
        log(
            f"  {name:<32} cached p50 {result['cached'][50]:6.2f} p95 {result['cached'][95]:6.2f}"
            f" | uncached p50 {result['uncached'][50]:6.2f} p95 {result['uncached'][95]:6.2f} ms"
            f" ({total:,} matches)"
        )
    return results


def _copy_values(source: Path, engine: Any) -> None:
    """product_values and categories into the PostgreSQL copy, then ANALYZE."""
    from sqlalchemy import text

    tables = {
        "product_values": [
            "store_id",
            "product_id",
            "attribute",
            "position",
            "value",
            "long_value",
            "number",
        ],
    }
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as lite:
        columns = [r[1] for r in lite.execute("PRAGMA table_info(categories)")]
        if columns:
            tables["categories"] = columns
        raw = engine.raw_connection()
        try:
            cursor = raw.driver_connection.cursor()
            for table, names in tables.items():
                with cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                    for row in lite.execute(f"SELECT {', '.join(names)} FROM {table}"):
                        copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def run(requests: int, log: Any, seed: int = 1) -> dict[str, Any]:
    data = dataset.ensure(suggestions.spec(), log)
    store_id = int(data.meta["store"]["id"])
    workdir = Path(tempfile.mkdtemp(prefix="clerk-bench-facets-"))
    report: dict[str, Any] = {"requests": requests, "query": QUERY}
    postgres_url = os.environ.get("BENCH_POSTGRES_URL")
    database = None
    try:
        dataset.working_copy(data, workdir, log)
        db = workdir / "clerk.db"
        engine = search_storage.sqlite_copy(db, store_id)
        log(f"facets: SQLite, {requests} calls per case and mode")
        report["sqlite"] = measure(engine, store_id, requests, log)
        engine.dispose()
        if postgres_url:
            engine, database = search_storage.postgres_copy(db, postgres_url, log)
            _copy_values(db, engine)
            log(f"facets: PostgreSQL, {requests} calls per case and mode")
            report["postgresql"] = measure(engine, store_id, requests, log)
            engine.dispose()
    finally:
        if database and postgres_url:
            search_storage.drop_database(postgres_url, database)
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def table(r: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Facets: search_page for {r['query']!r} at 100,000 products, {r['requests']} calls per"
        f" case and mode (target: p95 under {TARGET_P95_MS:.0f} ms with a filter and 3 facets)",
        "| engine | case | matches | cached p50 | cached p95 | uncached p50 | uncached p95 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for engine in ("sqlite", "postgresql"):
        for c in r.get(engine, []):
            lines.append(
                f"| {engine} | {c['case']} | {c['count']:,} | {c['cached'][50]} |"
                f" {c['cached'][95]} | {c['uncached'][50]} | {c['uncached'][95]} |"
            )
    return lines


if __name__ == "__main__":
    import json
    import sys

    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    print(json.dumps(run(requests, lambda line: print(line, flush=True)), indent=2))
