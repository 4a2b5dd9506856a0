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

Each in three modes: cached (the same call again: every per-process cache kept),
new query (every cache emptied before the call but the store's columns: what a query
no one asked since the last catalogue change costs in a running process), after a change
(one product matching the query saved with a new price just before: a new catalogue
version, which the columns follow by reading that product again) and uncached
(every cache emptied, the columns too: a process's first call, which loads them; fewer
calls) and warmed (every cache emptied, then the housekeeping's warming,
storage/search/warm.py, timed apart as "warming": the first call of a process whose
housekeeping has run once). Then what the columns cost to load and hold (`footprint`),
and a shoppers' mix (`shoppers`): sessions of Zipf-picked queries and facet clicks in a
warm process, some repeating and most of the tail not. On SQLite; with
BENCH_POSTGRES_URL, also on a PostgreSQL copy (the search tables, product_values and
categories). p50 and p95 (nearest rank) in ms.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from . import dataset, search_storage, suggestions
from .common import percentile

TARGET_P95_MS = 20.0
QUERY = "jacket"
FACETS = ("brand", "price", "categories")
MODES = ("cached", "new query", "after a change", "uncached", "warmed")
VOCABULARY = 300  # words the shoppers search
SHOPPER_CALLS = 400


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


def _changed(engine: Any, store_id: int, item: dict[str, Any], n: int) -> None:
    """A back office saving one product (its price changed): a new catalogue version."""
    from collector.storage.catalogue import upsert_products

    price = float(item.get("price") or 10) + (n % 2) * 0.5
    with engine.begin() as conn:
        upsert_products(conn, store_id=store_id, items=[{**item, "price": price}], now=n)


def measure(
    engine: Any, store_id: int, requests: int, log: Any, item: dict[str, Any]
) -> list[dict[str, Any]]:
    from collector.storage.caches import clear_all
    from collector.storage.search import search_page, warm

    def call(args: dict[str, Any]) -> tuple[float, int]:
        started = time.perf_counter()
        with engine.connect() as conn:
            found = search_page(
                conn, store_id=store_id, query=QUERY, prefix=False, limit=10, **args
            )
        return (time.perf_counter() - started) * 1000, found.count

    results = []
    cold = max(3, requests // 5)  # a cold process call loads columns: fewer of them
    for name, args in _cases(engine, store_id):
        times: dict[str, list[float]] = {mode: [] for mode in (*MODES, "warming")}
        total = call(args)[1]
        for i in range(requests):
            if i < cold:
                clear_all()
                times["uncached"].append(call(args)[0])
                clear_all()
                started = time.perf_counter()
                with engine.connect() as conn:
                    warm.warm(conn, store_id=store_id)
                times["warming"].append((time.perf_counter() - started) * 1000)
                times["warmed"].append(call(args)[0])
            clear_all(keep=("columns",))
            times["new query"].append(call(args)[0])
            times["cached"].append(call(args)[0])
            _changed(engine, store_id, item, i)
            times["after a change"].append(call(args)[0])
        result: dict[str, Any] = {"case": name, "count": total}
        for mode in (*MODES, "warming"):
            result[mode] = {q: round(percentile(times[mode], q), 2) for q in (50, 95)}
        results.append(result)
        log(
            f"  {name:<30}"
            + " |".join(
                f" {mode} p50 {result[mode][50]:7.2f} p95 {result[mode][95]:7.2f}" for mode in MODES
            )
            + f" ms ({total:,} matches; warming p50 {result['warming'][50]:.0f} ms)"
        )
    return results


def footprint(engine: Any, store_id: int, log: Any) -> dict[str, Any]:
    """What the columns cost to load and hold (every attribute, one at a time), and the
    match set of QUERY: ms, and MB as tracemalloc counts them (a second load, as
    tracemalloc slows the first)."""
    from collector.storage.caches import clear_all
    from collector.storage.search import matchset, query
    from collector.storage.search.columns import columns_for

    found: dict[str, Any] = {"attributes": {}}
    with engine.connect() as conn:
        names = sorted(
            {r[0] for r in conn.exec_driver_sql("SELECT DISTINCT attribute FROM product_values")}
        )
        state = query._state(conn, store_id)
        for traced in (False, True):
            clear_all()
            if traced:
                tracemalloc.start()
            started = time.perf_counter()
            columns = columns_for(conn, store_id, state.version)
            mark = _mark(started, traced)
            found["positions" + ("_mb" if traced else "_ms")] = mark
            for name in names:
                started = time.perf_counter()
                columns.column(conn, name)
                entry = found["attributes"].setdefault(name, {})
                entry["mb" if traced else "ms"] = _mark(started, traced)
                entry["rows"] = columns.columns[name].rows
                entry["distinct"] = len(columns.columns[name].values) - 1
            started = time.perf_counter()
            columns.ranking(conn, state.popularity)
            found["ranking" + ("_mb" if traced else "_ms")] = _mark(started, traced)
            started = time.perf_counter()
            index = columns.word_index(conn).index
            found["words" + ("_mb" if traced else "_ms")] = _mark(started, traced)
            found["words"], found["postings"] = len(index.at), len(index.docs)
            started = time.perf_counter()
            plan = query._Plan(
                conn, query._cache(engine), state, (store_id, state.version, (QUERY,), False)
            )
            ids = matchset.match_set(plan, columns)
            found["match_set" + ("_mb" if traced else "_ms")] = _mark(started, traced)
            found["match_set_ids"] = len(ids)
            if traced:
                tracemalloc.stop()
    for name, entry in found["attributes"].items():
        log(
            f"  column {name:<12} {entry['rows']:>7,} rows {entry['distinct']:>7,} distinct"
            f" {entry['ms']:7.1f} ms {entry['mb']:6.1f} MB"
        )
    log(
        f"  positions {found['positions_ms']:.1f} ms {found['positions_mb']:.1f} MB;"
        f" ranking order {found['ranking_ms']:.1f} ms {found['ranking_mb']:.1f} MB;"
        f" words ({found['words']:,} words, {found['postings']:,} postings)"
        f" {found['words_ms']:.1f} ms {found['words_mb']:.1f} MB;"
        f" match set of {QUERY!r} ({found['match_set_ids']:,}) {found['match_set_ms']:.1f} ms"
        f" {found['match_set_mb']:.2f} MB"
    )
    return found


def _mark(started: float, traced: bool) -> float:
    """MB allocated since tracemalloc was reset (traced), else ms since `started`."""
    if traced:
        size = tracemalloc.get_traced_memory()[0] / 1e6
        tracemalloc.reset_peak()
        tracemalloc.clear_traces()
        return round(size, 2)
    return round((time.perf_counter() - started) * 1000, 1)


# ---------------------------------------------------------------- shoppers


def _queries(engine: Any, store_id: int) -> list[str]:
    """The catalogue's words that many products hold (letters only, 3 or more)."""
    from sqlalchemy import select

    from collector.storage.schema import search_vocabulary as v

    with engine.connect() as conn:
        rows = conn.execute(
            select(v.c.word)
            .where(v.c.store_id == store_id, v.c.products >= 20)
            .order_by(v.c.products.desc(), v.c.word)
            .limit(4 * VOCABULARY)
        ).all()
    return [r.word for r in rows if r.word.isalpha() and len(r.word) >= 3][:VOCABULARY]


def _filter(chosen: dict[str, list[Any]]) -> str:
    """The search page's filter for these choices (one `and`-ed part per attribute)."""
    parts = []
    for name, picked in chosen.items():
        if name == "price":
            ranges = [f"(price >= {a} and price <= {b})" for a, b in picked]
            parts.append(f"({' or '.join(ranges)})")
        else:
            parts.append(f"({name} in [{', '.join(json.dumps(v) for v in picked)}])")
    return " and ".join(parts)


def shoppers(engine: Any, store_id: int, calls: int, seed: int, log: Any) -> dict[str, Any]:
    """A shoppers' mix, in a warm process (the columns loaded, every other cache empty):
    sessions each search a word of the catalogue, picked by a Zipf law (weight 1 / rank
    over VOCABULARY words in a random order: some queries come back, most of the tail
    does not), with facets brand, price and categories; then click 0 to 3 facet values
    (a value picked by its count, as shoppers pick the big ones), each click a call with
    the filter so far and brand and price multiselect; one session in six also sorts by
    price. Every call timed; the target is on the calls with a filter."""
    from collector import filters
    from collector.storage.caches import clear_all
    from collector.storage.search import Narrowing, Order, search_page

    rng = random.Random(seed)
    words = _queries(engine, store_id)
    rng.shuffle(words)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    clear_all()
    timed: dict[str, list[float]] = {"no filter": [], "filter": []}
    asked: list[str] = []

    def call(word: str, narrowing: Narrowing) -> Any:
        started = time.perf_counter()
        with engine.connect() as conn:
            found = search_page(
                conn, store_id=store_id, query=word, prefix=False, limit=24, narrowing=narrowing
            )
        kind = "no filter" if narrowing.filter is None else "filter"
        timed[kind].append((time.perf_counter() - started) * 1000)
        return found

    call(words[0], Narrowing(filters.parse("price > 0"), None, FACETS))  # columns loaded
    clear_all(keep=("columns",))
    timed = {"no filter": [], "filter": []}
    while sum(map(len, timed.values())) < calls:
        word = rng.choices(words, weights)[0]
        asked.append(word)
        order = Order("price", rng.random() < 0.5) if rng.random() < 1 / 6 else None
        found = call(word, Narrowing(None, order, FACETS, ("brand", "price")))
        chosen: dict[str, list[Any]] = {}
        for _ in range(rng.choice([0, 1, 1, 2, 2, 3])):
            facets = {k: v for k, v in (found.facets or {}).items() if v}
            if not facets:
                break
            name = rng.choice(sorted(facets))
            value = rng.choices(facets[name], [v["count"] for v in facets[name]])[0]
            picked = (value["min"], value["max"]) if name == "price" else value["value"]
            if picked in chosen.get(name, []):
                continue
            chosen.setdefault(name, []).append(picked)
            expr = filters.parse(_filter(chosen))
            found = call(word, Narrowing(expr, order, FACETS, ("brand", "price")))
    report: dict[str, Any] = {
        "calls": sum(map(len, timed.values())),
        "queries": len(asked),
        "distinct": len(set(asked)),
    }
    for kind, times in timed.items():
        report[kind] = {
            "calls": len(times),
            **{q: round(percentile(times, q), 2) for q in (50, 95, 99)},
            "max": round(max(times), 2) if times else 0,
        }
        log(
            f"  shoppers, {kind:<9} {len(times):>4} calls: p50 {report[kind][50]:6.2f}"
            f" p95 {report[kind][95]:6.2f} p99 {report[kind][99]:6.2f}"
            f" max {report[kind]['max']:7.2f} ms"
        )
    log(f"  ({report['queries']} searches of {report['distinct']} distinct words)")
    return report


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


def _item(engine: Any, store_id: int) -> dict[str, Any]:
    """A product that matches QUERY, as the shop sends it (what _changed saves again)."""
    from collector.storage.catalogue import list_products
    from collector.storage.search import search_products

    with engine.connect() as conn:
        ids, _ = search_products(conn, store_id=store_id, query=QUERY, prefix=False, limit=1)
        [found], _ = list_products(conn, store_id=store_id, limit=1, offset=0, ids=ids)
    return {k: v for k, v in found.items() if v is not None}


def _engine_run(
    engine: Any, store_id: int, requests: int, seed: int, log: Any, item: dict[str, Any]
) -> dict[str, Any]:
    return {
        "cases": measure(engine, store_id, requests, log, item),
        "footprint": footprint(engine, store_id, log),
        "shoppers": shoppers(engine, store_id, SHOPPER_CALLS, seed, log),
    }


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
        item = _item(engine, store_id)
        log(f"facets: SQLite, {requests} calls per case and mode")
        report["sqlite"] = _engine_run(engine, store_id, requests, seed, log, item)
        engine.dispose()
        if postgres_url:
            engine, database = search_storage.postgres_copy(db, postgres_url, log)
            _copy_values(db, engine)
            log(f"facets: PostgreSQL, {requests} calls per case and mode")
            report["postgresql"] = _engine_run(engine, store_id, requests, seed, log, item)
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
        "| engine | case | matches | cached p50 | cached p95 | new query p50 | new query p95"
        " | after a change p50 | after a change p95 | uncached p50 | uncached p95"
        " | warmed p50 | warmed p95 | warming p50 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for engine in ("sqlite", "postgresql"):
        for c in r.get(engine, {}).get("cases", []):
            lines.append(
                f"| {engine} | {c['case']} | {c['count']:,} |"
                + " |".join(f" {c[mode][50]} | {c[mode][95]}" for mode in MODES)
                + f" | {c.get('warming', {}).get(50, '')} |"
            )
    lines += [
        "",
        "Shoppers' mix (calls with and without a filter): p50 / p95 / p99 / max ms",
        "| engine | calls | no filter | with a filter |",
        "|---|---:|---|---|",
    ]
    for engine in ("sqlite", "postgresql"):
        mix = r.get(engine, {}).get("shoppers")
        if mix:
            shown = [
                f"{mix[k][50]} / {mix[k][95]} / {mix[k][99]} / {mix[k]['max']} ({mix[k]['calls']})"
                for k in ("no filter", "filter")
            ]
            lines.append(f"| {engine} | {mix['calls']} | {shown[0]} | {shown[1]} |")
    return lines


if __name__ == "__main__":
    import json
    import sys

    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    print(json.dumps(run(requests, lambda line: print(line, flush=True)), indent=2))
