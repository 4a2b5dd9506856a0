"""Live search's other calls: search/suggestions, search/categories and search/pages
(scripts/bench --only suggestions).

DESIGN.md: suggestions p95 under 10 ms at 100,000 products. On a copy of the data set's
100,000 products (bench/dataset.py; the default data set when it is cached, else one with
the same products and a small history, which these calls do not read), with added:

- a log of SEARCHES full searches over the last 90 days by VISITORS shoppers, of queries
  drawn Zipf-like from the first words of product names (what shoppers type), a tenth
  of them with a typo, and a few hundred "private" queries (an email, a name) searched
  by one shopper each: they must never be suggested;
- CATEGORIES categories (the catalogue's categories and their brands) and PAGES pages of
  a few hundred words each, through the collector's own storage/sitedata.py.

One `clerk-collector serve --workers 1` answers, on one keep-alive connection (bench/
common.py), what a live search box sends as a shopper types: every prefix of a target
("w", "wo", "woo", "wool", ...), for targets drawn as the queries were (60 %), from the
catalogue's words (30 %) or with a typo (10 %). Timed: the first call (it loads the
store's words), then p50/p95/p99 of
suggestions, and of categories and pages for the same keystrokes; and of GET /healthz
between them (a request that reads the database once in a worker thread: the floor of
any call on this machine at that moment).

Before the server starts, the same keystrokes are timed in process (`in_process`: the
storage functions alone, warm), after the recount of popular queries (timed: the read
of the 90-day log); with BENCH_POSTGRES_URL, also on a PostgreSQL copy of what they read.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from . import dataset, pg, search_storage
from .common import Case, Server, percentile, summary

TARGET_P95_MS = 10.0
SEARCHES = 300_000
VISITORS = 30_000
QUERIES = 3_000
PRIVATE = 300
CATEGORIES = 1_000
PAGES = 300
DAY_MS = 86_400_000
SESSION = "BenchSession0000000001"


def spec() -> dataset.Spec:
    """The default data set when it is cached (no build), else its products alone."""
    full = dataset.Spec()
    if (dataset.cache_root() / full.key / "meta.json").exists():
        return full
    return dataset.Spec(events=20_000, orders=2_000)


def _words(text: str) -> list[str]:
    from collector.storage.folding import words

    return words(text)


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # a transposition


def prepare(db: Path, store_id: int, rng: random.Random, log: Any) -> dict[str, Any]:
    """Add the log of searches, categories and pages to the copy; the targets to type."""
    from sqlalchemy import select

    from collector.storage import sitedata
    from collector.storage.engine import make_engine
    from collector.storage.schema import products, search_vocabulary, searches
    from collector.storage.searches import search_row

    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        names = list(conn.scalars(select(products.c.name).where(products.c.store_id == store_id)))
        labels = conn.execute(
            select(products.c.brand, products.c.categories).where(products.c.store_id == store_id)
        ).all()
        vocabulary = conn.execute(
            select(search_vocabulary.c.word, search_vocabulary.c.products).where(
                search_vocabulary.c.store_id == store_id
            )
        ).all()
    pool = sorted({" ".join(_words(n)[: rng.choice((1, 2, 2, 3))]) for n in names} - {""})
    rng.shuffle(pool)
    pool = pool[:QUERIES]
    weights = [1 / (rank + 10) for rank in range(len(pool))]
    now = int(time.time() * 1000)
    rows = []
    for _ in range(SEARCHES):
        query = rng.choices(pool, weights)[0]
        if rng.random() < 0.1:
            query = " ".join(_typo(rng, w) for w in query.split())
        rows.append((query, f"v{rng.randrange(VISITORS)}", 1))
    # Private queries: an email each (one shopper each), and a name by many shoppers
    # that found products (as if search had forgiven it): neither may be suggested.
    rows += [(f"shopper{i}@mail.example", f"v{i}", 0) for i in range(PRIVATE)]
    rows += [("Anna Lindqvist", f"v{i}", 2) for i in range(PRIVATE)]
    logged = [
        search_row(
            store_id=store_id,
            ts=now - rng.randrange(90 * DAY_MS),
            api="search/search",
            query=query,
            hits=hits,
            visitor_mode="persistent",
            visitor_id=visitor,
            session=None,
        )
        for query, visitor, hits in rows
    ]
    logged.sort(key=lambda r: r["ts"])
    with engine.begin() as conn:
        for start in range(0, len(logged), 20_000):
            conn.execute(searches.insert(), logged[start : start + 20_000])
    # The catalogue's categories and brands, and "brand category" pairs, as shops have
    # a category per brand within each main category.
    brands = sorted({b for b, _ in labels if b})
    main = sorted({c for _, cats in labels for c in json.loads(cats or "[]")})
    names = [*main, *brands, *(f"{b} {c}" for c in main for b in brands)][:CATEGORIES]
    seen = {
        name: {"id": str(n), "name": name, "url": f"/c/{n}", "description": f"All {name}"}
        for n, name in enumerate(names, 1)
    }
    text_words = [w for w, _ in vocabulary if not any(c.isdigit() for c in w)] or ["word"]
    pages = [
        {
            "id": f"page{i}",
            "type": "cms",
            "url": f"/pages/{i}",
            "title": " ".join(rng.choices(text_words, k=rng.randint(1, 4))).capitalize(),
            "text": " ".join(rng.choices(text_words, k=rng.randint(100, 600))),
        }
        for i in range(PAGES)
    ]
    with engine.begin() as conn:
        for kind, items in ((sitedata.CATEGORIES, list(seen.values())), (sitedata.PAGES, pages)):
            sitedata.upsert_items(
                conn, kind, store_id=store_id, items=items, now=now, max_items=100_000
            )
    engine.dispose()
    by_products = sorted(vocabulary, key=lambda r: -r[1])[:5_000]
    common_words = [w for w, _ in by_products]
    targets = []
    for _ in range(400):
        draw = rng.random()
        if draw < 0.6:
            targets.append(rng.choices(pool, weights)[0])
        elif draw < 0.9:
            targets.append(rng.choice(common_words))
        else:
            targets.append(" ".join(_typo(rng, w) for w in rng.choices(pool, weights)[0].split()))
    log(
        f"suggestions: {len(logged):,} searches logged ({len(pool):,} queries), "
        f"{len(seen):,} categories, {len(pages)} pages, {len(vocabulary):,} catalogue words"
    )
    return {"targets": targets, "vocabulary": len(vocabulary), "categories": len(seen)}


# Copied to PostgreSQL for the in-process figures: what the three calls and the recount read.
COPIED = ("search_vocabulary", "search_catalogue", "searches", "categories", "pages",
          "site_versions")  # fmt: skip


def postgres_copy(db: Path, admin_url: str, log: Any) -> tuple[Any, str]:
    """A new database, migrated, with the tables of COPIED (and stores) from the copy
    (bench/pg.py)."""
    engine, name, _ = pg.copy(db, admin_url, log, prefix="clerk_bench_suggest",
                              tables=["stores", *COPIED])  # fmt: skip
    return engine, name


def in_process(engine: Any, store_id: int, typed: list[str]) -> dict[str, Any]:
    """The recount, then the three storage functions for every keystroke, in this process
    (no HTTP, no worker thread): what the calls cost themselves, warm as a server runs."""
    from collector.storage import sitedata
    from collector.storage.site_search import search_items
    from collector.storage.suggestions import popular_phrases, save_phrases, suggest

    now = int(time.time() * 1000)
    started = time.perf_counter()
    with engine.begin() as conn:
        phrases = popular_phrases(conn, store_id=store_id, now=now)
        save_phrases(conn, store_id=store_id, phrases=phrases, now=now)
    recount_ms = (time.perf_counter() - started) * 1000
    calls = {
        "suggestions": lambda conn, q: suggest(conn, store_id=store_id, query=q, limit=5),
        "categories": lambda conn, q: search_items(
            conn, sitedata.CATEGORIES, store_id=store_id, query=q, limit=5, offset=0
        ),
        "pages": lambda conn, q: search_items(
            conn, sitedata.PAGES, store_id=store_id, query=q, limit=5, offset=0
        ),
    }
    result: dict[str, Any] = {"recount_ms": round(recount_ms, 1), "popular_queries": len(phrases)}
    for name, call in calls.items():
        with engine.connect() as conn:
            mark = time.perf_counter()
            call(conn, "w")  # loads the store's words or index
            result[f"{name}_load_ms"] = round((time.perf_counter() - mark) * 1000, 1)
        timed = []
        for query in typed:
            mark = time.perf_counter()
            with engine.connect() as conn:
                call(conn, query)
            timed.append((time.perf_counter() - mark) * 1000)
        result[name] = summary(timed)
    return result


def keystrokes(targets: list[str], requests: int) -> list[str]:
    typed: list[str] = []
    for target in targets:
        typed += [target[:n] for n in range(1, len(target) + 1) if target[:n].strip()]
    return typed[:requests]


def run(
    requests: int, log: Any, seed: int = 1, spec_: dataset.Spec | None = None
) -> dict[str, Any]:
    data = dataset.ensure(spec_ or spec(), log)
    workdir = Path(tempfile.mkdtemp(prefix="clerk-bench-suggestions-"))
    key = data.meta["store"]["public_key"]
    try:
        dataset.working_copy(data, workdir, log)
        db = workdir / "clerk.db"
        dataset.cli(dataset.collector_env(db), workdir, "migrate")
        store_id = int(data.meta["store"]["id"])
        prepared = prepare(db, store_id, random.Random(seed), log)
        typed = keystrokes(prepared["targets"], requests)
        from collector.storage.engine import make_engine

        engine = make_engine(f"sqlite:///{db}")
        storage = {"sqlite": in_process(engine, store_id, typed)}
        engine.dispose()
        postgres_url = os.environ.get("BENCH_POSTGRES_URL")
        if postgres_url:
            engine, name = postgres_copy(db, postgres_url, log)
            try:
                storage["postgresql"] = in_process(engine, store_id, typed)
            finally:
                engine.dispose()
                search_storage.drop_database(postgres_url, name)
        for engine_name, figures in storage.items():
            s = figures["suggestions"]
            log(
                f"  {engine_name} in process: recount {figures['recount_ms']:.0f} ms; suggestions"
                f" p50 {s['p50']:.2f} p95 {s['p95']:.2f} ms"
            )
        common = {"key": key, "visitor": "auto", "session": SESSION}
        log("suggestions: collector (1 worker)")
        server = Server(db, workdir, 60, "suggestions")
        try:
            suggest = Case("suggestions", "search/suggestions", [{**common, "query": "w"}])
            cold_ms, _ = server.post(suggest)  # loads the store's words (counted above)
            timed: dict[str, list[float]] = {"suggestions": [], "categories": [], "pages": []}
            answers: list[list[str]] = []
            floor: list[float] = []  # GET /healthz: one read in a worker thread
            started = time.monotonic()
            for query in typed:
                floor.append(server.client.call("GET", "/healthz")[0] * 1000)
                for api in timed:
                    case = Case(api, f"search/{api}", [{**common, "query": query, "limit": 5}])
                    ms, answer = server.post(case)
                    timed[api].append(ms)
                    if api == "suggestions":
                        answers.append(answer["result"])
            window_s = time.monotonic() - started
        finally:
            server.stop()
        leaked = [a for found in answers for a in found if "mail" in a or "anna" in a]
        if leaked:
            raise RuntimeError(f"suggestions: private queries suggested: {leaked[:3]}")
        result: dict[str, Any] = {
            "spec": data.spec.key,
            "requests": len(typed),
            "searches_logged": SEARCHES + 2 * PRIVATE,
            "catalogue_words": prepared["vocabulary"],
            "category_count": prepared["categories"],
            "page_count": PAGES,
            "cold_ms": round(cold_ms, 1),
            "window_seconds": round(window_s, 1),
            "empty_answers": sum(1 for a in answers if not a),
            **{api: summary(ms) for api, ms in timed.items()},
            "healthz": summary(floor),
            # Each call minus the GET /healthz sent just before it: what it costs above
            # the floor of that moment, which load on the machine moves least.
            "above_floor": {
                api: {
                    f"p{q}": round(
                        percentile([m - f for m, f in zip(ms, floor, strict=True)], q), 2
                    )
                    for q in (50, 95)
                }
                for api, ms in timed.items()
            },
            "in_process": storage,
            "target_p95_ms": TARGET_P95_MS,
        }
        result["within_target"] = result["suggestions"]["p95"] < TARGET_P95_MS
        s = result["suggestions"]
        log(f"  suggestions p50 {s['p50']:.2f} p95 {s['p95']:.2f} p99 {s['p99']:.2f} ms")
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def table(r: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Suggestions: {r['requests']:,} keystrokes of a live search box, each sent to "
        f"the three calls (limit 5); {r['searches_logged']:,} searches logged, "
        f"{r['catalogue_words']:,} catalogue words; ms",
        f"{'':<28}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}",
    ]
    for name in ("suggestions", "categories", "pages", "healthz"):
        s = r[name]
        lines.append(f"{name:<28}{s['p50']:>8.2f}{s['p95']:>8.2f}{s['p99']:>8.2f}{s['max']:>8.2f}")
    above = r.get("above_floor", {})
    if above:
        lines.append(
            "above GET /healthz sent just before (p50/p95): "
            + ", ".join(f"{api} {a['p50']:+.2f}/{a['p95']:+.2f}" for api, a in above.items())
        )
    for engine_name, f in r.get("in_process", {}).items():
        lines.append(
            f"in process, {engine_name}: recount {f['recount_ms']:.0f} ms "
            f"({f['popular_queries']:,} popular queries); p50/p95 suggestions "
            f"{f['suggestions']['p50']:.2f}/{f['suggestions']['p95']:.2f}, categories "
            f"{f['categories']['p50']:.2f}/{f['categories']['p95']:.2f}, pages "
            f"{f['pages']['p50']:.2f}/{f['pages']['p95']:.2f}; first call loads "
            f"{f['suggestions_load_ms']:.0f}/{f['categories_load_ms']:.0f}/"
            f"{f['pages_load_ms']:.0f} ms"
        )
    verdict = "within" if r["within_target"] else "OVER"
    lines.append(
        f"suggestions p95 {verdict} the {r['target_p95_ms']:g} ms target; first call "
        f"(loading the store's words) {r['cold_ms']:.1f} ms"
    )
    return lines
