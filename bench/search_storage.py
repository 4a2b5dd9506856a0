"""Search at storage level on SQLite and PostgreSQL copies of the recs data set.

    .venv/bin/python -m bench.search_storage [--postgres URL] [--requests N] [--json FILE]

`scripts/bench --only recs` times search over HTTP on SQLite only, and with the same
query again and again, so that its figures are those of warm caches. This times
`collector.storage.search.search_products` itself, the function search/search and
search/predictive call (in a worker thread, on a pooled connection, as here), for the
same queries as bench/recs.py plus a page far down the results:

- **cached**: as a server runs, the per-process caches kept between calls
  (predictive answers, counts, typo corrections);
- **uncached**: the caches emptied before every call: what the first shopper to ask
  pays, after every change to the store's catalogue.

The SQLite copy is the data set's cached file, copied and migrated; the PostgreSQL copy
is a new database on the given server (dropped at the end), migrated, with the search
tables (documents with their sales and views, texts, vocabulary, catalogue versions)
copied from the SQLite copy with COPY, then VACUUM ANALYZE. Both get their sales and
views counted first, as the first search of a store does. Calls alternate between the
two modes, so that both see the same machine; p50 and p95 (nearest rank) in ms.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from . import dataset, pg, recs
from .common import percentile

CASES: list[tuple[str, str, bool, int]] = [
    *[(f"search {query!r}", query, False, 0) for _, query in recs.SEARCHES],
    ("search 'jacket', offset 480", "jacket", False, 480),
    *[
        (f"predictive {n} chars", word[:n], True, 0)
        for n in (2, 3, 4, 5)
        for word in recs.PREFIX_WORDS
    ],
]
COPIED = (  # the search tables (their columns as both engines have them)
    "search_documents",
    "search_texts",
    "search_vocabulary",
    "search_popularity",
    "search_catalogue",
)


def sqlite_copy(db: Path, store_id: int) -> Any:
    """The data set's copy, migrated, with its sales and views counted."""
    from collector.storage import search
    from collector.storage.engine import make_engine
    from collector.storage.migrations import migrate

    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    now = int(time.time() * 1000)
    with engine.begin() as conn:
        changes = search.popularity_changes(conn, store_id=store_id)
        search.save_popularity(conn, store_id=store_id, changes=changes, now=now)
    return engine


def postgres_copy(source: Path, admin_url: str, log: Any) -> tuple[Any, str]:
    """A new database with the search tables of `source` (their sales and views as
    counted there: it has no events); its engine and name (bench/pg.py)."""
    engine, name, _ = pg.copy(
        source, admin_url, log, prefix="clerk_bench_search", tables=["stores", *COPIED]
    )
    return engine, name


def drop_database(admin_url: str, name: str) -> None:
    pg.drop(admin_url, name)


def measure(engine: Any, store_id: int, requests: int, log: Any) -> list[dict[str, Any]]:
    from collector.storage import search
    from collector.storage.caches import clear_all

    def call(query: str, prefix: bool, offset: int) -> tuple[float, int]:
        started = time.perf_counter()
        with engine.connect() as conn:
            _, total = search.search_products(
                conn, store_id=store_id, query=query, prefix=prefix, limit=10, offset=offset
            )
        return (time.perf_counter() - started) * 1000, total

    results = []
    for name, query, prefix, offset in CASES:
        cached: list[float] = []
        uncached: list[float] = []
        total = call(query, prefix, offset)[1]
        for _ in range(requests):
            clear_all()
            uncached.append(call(query, prefix, offset)[0])
            cached.append(call(query, prefix, offset)[0])  # what the call before cached
        result = {
            "case": name,
            "query": query,
            "count": total,
            "cached": {q: round(percentile(cached, q), 2) for q in (50, 95)},
            "uncached": {q: round(percentile(uncached, q), 2) for q in (50, 95)},
        }
        results.append(result)
        log(
            f"  {name:<30} {query!r:<18} cached p50 {result['cached'][50]:6.2f} p95 "
            f"{result['cached'][95]:6.2f} | uncached p50 {result['uncached'][50]:6.2f} p95 "
            f"{result['uncached'][95]:6.2f} ms ({total:,} matches)"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--postgres", help="server URL, e.g. postgresql+psycopg://...:5432/postgres"
    )
    parser.add_argument("--requests", type=int, default=100, help="timed calls per case and mode")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    def log(line: str) -> None:
        print(line, flush=True)

    data = dataset.ensure(dataset.Spec(), log)
    store_id = int(data.meta["store"]["id"])
    workdir = Path(tempfile.mkdtemp(prefix="clerk-bench-search-"))
    report: dict[str, Any] = {"requests": args.requests}
    database = None
    try:
        dataset.working_copy(data, workdir, log)
        db = workdir / "clerk.db"
        engine = sqlite_copy(db, store_id)
        log(f"search: SQLite, {args.requests} calls per case and mode")
        report["sqlite"] = measure(engine, store_id, args.requests, log)
        engine.dispose()
        if args.postgres:
            engine, database = postgres_copy(db, args.postgres, log)
            log(f"search: PostgreSQL, {args.requests} calls per case and mode")
            report["postgresql"] = measure(engine, store_id, args.requests, log)
            engine.dispose()
    finally:
        if database:
            drop_database(args.postgres, database)
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
