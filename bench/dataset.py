"""The generated data set of the recommendations and search benchmark, built once and cached.

What it holds (all from one seed, so the same arguments give the same rows):

- products: `demo_shop.catalogue.generate_catalogue(..., n=products)`, imported with
  the real `clerk-collector import products`, so that the search index, the
  vocabulary and the category table are built the way a shop's import builds them;
- events over the last `days` days: shopping sessions of views, widget renders
  (after a quarter of the views) and clicks on them (three in ten renders), from
  a mix of visitors: 60% of sessions cookieless ("c-..." ids, a new id for the same
  person every day, as the daily salt gives), 30% persistent ids of people who
  come back across days, 10% null (no visitor, no session). Product popularity is
  Zipf-like (weight 1 / (rank + 10)); half the views after the first stay in the
  session's category; a few hundred products rise in the last 36 hours (trending);
- orders of 1-4 lines, each from a session that viewed its first products.

Events are not sent through HTTP (a million requests would take minutes): they are
inserted with SQLAlchemy Core executemany, in large transactions, as rows built by
the collector's own `collector.storage.tracking.event_row`, in time order (ids
grow with time, as the collector writes them); orders go through
`collector.storage.tracking.record_sale`, the function log/sale uses. Then
`clerk-collector migrate` runs.

The finished SQLite file is kept under $BENCH_CACHE_DIR (default
<tmp>/clerk-bench-cache), in a directory named by the generator version, the seed
and the sizes, and reused by later runs. Each run works on a copy, whose event and
order times are moved forward by the age of the cache, so "the last 24 hours" and
"the last 30 days" mean what they meant when it was built.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import math
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .procs import BIN

VERSION = 2  # bump whenever the generator changes what it writes
DAY_MS = 86_400_000
SHOP_URL = "http://localhost:8001"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
SHIFT_AFTER_MS = 3_600_000  # a cache older than this gets its times moved to now

# Widgets whose renders (and clicks) the sessions record, with their shares.
WIDGETS = (
    ("recommendations/complementary", ["Product page"], 4),
    ("recommendations/substituting", ["Product page alternatives"], 2),
    ("recommendations/popular", ["Home page"], 2),
    ("recommendations/visitor/history", ["You previously saw"], 1),
    ("recommendations/visitor/complementary", ["Picked for you"], 1),
)


@dataclass(frozen=True)
class Spec:
    seed: int = 1
    products: int = 100_000
    events: int = 1_000_000
    orders: int = 50_000
    days: int = 30

    @property
    def key(self) -> str:
        return (
            f"v{VERSION}-seed{self.seed}-p{self.products}-e{self.events}"
            f"-o{self.orders}-d{self.days}"
        )


@dataclass
class Dataset:
    spec: Spec
    directory: Path
    meta: dict[str, Any]
    reused: bool

    @property
    def db(self) -> Path:
        return self.directory / "clerk.db"


def cache_root() -> Path:
    configured = os.environ.get("BENCH_CACHE_DIR")
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "clerk-bench-cache"


def ensure(spec: Spec, log: Any) -> Dataset:
    """The data set of `spec`: from the cache when it is there, else built (and cached)."""
    final = cache_root() / spec.key
    meta_path = final / "meta.json"
    if meta_path.exists() and (final / "clerk.db").exists():
        meta = json.loads(meta_path.read_text())
        log(
            f"recs: data set {spec.key} reused from {final} "
            f"(built {time.strftime('%Y-%m-%d %H:%M', time.localtime(meta['built_at_ms'] / 1000))}"
            f" in {meta['build_seconds']['total']:.0f} s)"
        )
        return Dataset(spec, final, meta, reused=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{spec.key}.partial-", dir=final.parent))
    try:
        meta = build(spec, partial, log)
        (partial / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        if final.exists():  # a run that died half-way, or one without meta.json
            shutil.rmtree(final)
        partial.rename(final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    log(f"recs: data set cached in {final} (the next run reuses it)")
    return Dataset(spec, final, meta, reused=False)


# ---------------------------------------------------------------- building


def collector_env(db: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + uuid.uuid4().hex,
        # One client (loopback) sends the whole load: the per-client limit would cut it
        # short. The per-store limit stays on, so its cost is in the figures.
        "RATE_LIMIT_CLIENT": "0",
    }


def cli(env: dict[str, str], cwd: Path, *args: str, timeout: float = 1800) -> str:
    done = subprocess.run(
        [str(BIN / "clerk-collector"), *args],
        env=env,
        cwd=cwd,  # no .env from the work tree
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"clerk-collector {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def build(spec: Spec, directory: Path, log: Any) -> dict[str, Any]:
    from demo_shop.catalogue import generate_catalogue

    started = time.monotonic()
    seconds: dict[str, float] = {}
    db = directory / "clerk.db"
    env = collector_env(db)
    now_ms = int(time.time() * 1000)
    log(f"recs: building data set {spec.key} in {directory}")

    mark = time.monotonic()
    keys = json.loads(cli(env, directory, "create-store", "Bench shop", "--json"))
    catalogue = generate_catalogue(SHOP_URL, n=spec.products, seed=spec.seed)
    feed = directory / "products.ndjson"
    with feed.open("w") as out:
        for item in catalogue:
            out.write(json.dumps(item) + "\n")
    seconds["catalogue"] = time.monotonic() - mark
    mark = time.monotonic()
    log(f"recs:   clerk-collector import products ({spec.products:,} products)")
    imported = cli(env, directory, "import", "products", str(feed), "--store", keys["public_key"])
    feed.unlink()
    seconds["import_products"] = time.monotonic() - mark

    mark = time.monotonic()
    history = generate_history(spec, catalogue, now_ms)
    seconds["generate_history"] = time.monotonic() - mark
    log(
        f"recs:   generated {len(history.events):,} events and {len(history.orders):,} orders "
        f"in {seconds['generate_history']:.1f} s; inserting"
    )

    mark = time.monotonic()
    store_id = insert_history(db, keys["public_key"], history)
    seconds["insert"] = time.monotonic() - mark

    mark = time.monotonic()
    migrated = cli(env, directory, "migrate")
    seconds["migrate"] = time.monotonic() - mark
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    seconds["total"] = time.monotonic() - started
    log(
        "recs:   built in "
        + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in seconds.items())
    )
    return {
        "spec": asdict(spec),
        "key": spec.key,
        "built_at_ms": now_ms,
        "build_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "store": {"id": store_id, "public_key": keys["public_key"]},
        "import_output": imported,
        "migrate_output": migrated,
        "counts": counts(db),
        "db_bytes": db.stat().st_size,
        "picks": history.picks,
    }


def counts(db: Path) -> dict[str, Any]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:

        def one(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])

        return {
            "products": one("SELECT count(*) FROM products"),
            "products_in_stock": one(
                "SELECT count(*) FROM products WHERE stock IS NULL OR stock > 0"
            ),
            "product_categories": one("SELECT count(*) FROM product_categories"),
            "categories": one("SELECT count(DISTINCT category) FROM product_categories"),
            "search_documents": one("SELECT count(*) FROM search_documents"),
            "search_vocabulary": one("SELECT count(*) FROM search_vocabulary"),
            "events": one("SELECT count(*) FROM events"),
            "events_by_kind": dict(conn.execute("SELECT kind, count(*) FROM events GROUP BY 1")),
            "events_by_visitor_mode": dict(
                conn.execute("SELECT visitor_mode, count(*) FROM events GROUP BY 1")
            ),
            "visitor_ids": one("SELECT count(DISTINCT visitor_id) FROM events"),
            "orders": one("SELECT count(*) FROM orders"),
            "order_lines": one("SELECT count(*) FROM order_lines"),
        }


# ---------------------------------------------------------------- the history


@dataclass
class History:
    events: list[tuple[Any, ...]]  # (ts, kind, mode, visitor, session, product, api, labels, n)
    orders: list[dict[str, Any]]  # keyword arguments of record_sale, but store_id
    picks: dict[str, Any]


class Zipf:
    """Draws from `items` with weight 1 / (rank + offset), the first item ranked 1."""

    def __init__(self, items: list[str], offset: float = 10.0) -> None:
        self.items = items
        total, cumulative = 0.0, []
        for rank in range(1, len(items) + 1):
            total += 1.0 / (rank + offset)
            cumulative.append(total)
        self.cumulative = cumulative
        self.total = total

    def draw(self, rng: random.Random) -> str:
        i = bisect.bisect_left(self.cumulative, rng.random() * self.total)
        return self.items[min(i, len(self.items) - 1)]


class People:
    """Returning shoppers: each has an activity weight (log-normal), drawn by weight."""

    def __init__(self, rng: random.Random, n: int) -> None:
        total, cumulative = 0.0, []
        for _ in range(n):
            total += rng.lognormvariate(0.0, 1.0)
            cumulative.append(total)
        self.cumulative, self.total = cumulative, total

    def draw(self, rng: random.Random) -> int:
        return bisect.bisect_left(self.cumulative, rng.random() * self.total)


def rid(rng: random.Random) -> str:
    """A 22-character id like clerk.js's (persistent visitor ids, sessions)."""
    return "".join(ALPHABET[rng.getrandbits(6)] for _ in range(22))


def cookieless_id(seed: int, person: int, day: int) -> str:
    """Shaped like the collector's derived ids ("c-" + 22 characters); new every day."""
    digest = hashlib.sha256(f"{seed}:{person}:{day}".encode()).digest()
    return "c-" + base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def generate_history(spec: Spec, catalogue: list[dict[str, Any]], now_ms: int) -> History:
    rng = random.Random(f"clerk-bench-history-{spec.seed}")
    price = {p["id"]: float(p["price"]) for p in catalogue}
    category = {p["id"]: p["categories"][0] for p in catalogue}
    ranked = [p["id"] for p in catalogue]
    rng.shuffle(ranked)  # popularity is not the catalogue's order
    popular = Zipf(ranked)
    by_category: dict[str, list[str]] = defaultdict(list)
    for pid in ranked:
        by_category[category[pid]].append(pid)
    within = {name: Zipf(ids) for name, ids in by_category.items()}
    # Rising products: ranked 200-5,000 overall, much more viewed in the last 36 hours.
    candidates = ranked[200:5000] or ranked
    rising = rng.sample(candidates, min(300, len(candidates)))
    rising_since = now_ms - 36 * 3_600_000

    start_ms = now_ms - spec.days * DAY_MS
    sessions_estimate = spec.events / 6
    persistent = People(rng, max(10, int(sessions_estimate * 0.3 / 2.5)))
    cookieless = People(rng, max(10, int(sessions_estimate * 0.6 / 2.0)))
    persistent_ids: dict[int, str] = {}
    widget_weights = [w for _, _, w in WIDGETS]

    events: list[tuple[Any, ...]] = []
    sessions: list[tuple[str, str | None, str | None, list[str], int]] = []
    while len(events) < spec.events:
        # When: any day of the window, busier in the evening (UTC), never in the future.
        day = rng.randrange(spec.days)
        hour = rng.choices(range(24), weights=[1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5, 6, 6, 5, 5, 5,
                                                 6, 7, 8, 8, 6, 4, 2])[0]  # fmt: skip
        ts = start_ms + day * DAY_MS + hour * 3_600_000 + rng.randrange(3_600_000)
        kind = rng.random()
        if kind < 0.6:
            mode, session = "auto", rid(rng)
            visitor: str | None = cookieless_id(spec.seed, cookieless.draw(rng), day)
        elif kind < 0.9:
            person = persistent.draw(rng)
            if person not in persistent_ids:
                persistent_ids[person] = rid(rng)
            mode, visitor, session = "persistent", persistent_ids[person], rid(rng)
        else:
            mode, visitor, session = "none", None, None
        views = 1 + min(int(rng.expovariate(1 / 3.5)), 60)
        seen: list[str] = []
        focus: str | None = None
        clicked: tuple[str, list[str]] | None = None
        for _ in range(views):
            if ts >= now_ms:
                break
            if not seen:
                if ts >= rising_since and rng.random() < 0.25:
                    pid = rng.choice(rising)
                else:
                    pid = popular.draw(rng)
                focus = category[pid]
            elif clicked is not None or rng.random() < 0.5:
                assert focus is not None
                pid = within[focus].draw(rng)
            else:
                pid = popular.draw(rng)
            if clicked is not None:
                api, labels = clicked
                events.append((ts, "click", mode, visitor, session, pid, api, labels,
                               rng.randrange(10)))  # fmt: skip
                ts += rng.randrange(200, 1500)
            events.append((ts, "view", mode, visitor, session, pid, None, None, None))
            seen.append(pid)
            clicked = None
            ts += rng.randrange(300, 2000)
            if rng.random() < 0.25:
                api, labels, _ = rng.choices(WIDGETS, weights=widget_weights)[0]
                events.append((ts, "render", mode, visitor, session, None, api, labels, None))
                if rng.random() < 0.3:
                    clicked = (api, labels)
            ts += rng.randrange(10_000, 120_000)
        if seen:
            sessions.append((mode, visitor, session, seen, min(ts, now_ms - 1)))
    events = events[: spec.events]
    events.sort(key=lambda e: e[0])

    orders: list[dict[str, Any]] = []
    buyers = rng.choices(sessions, weights=[len(s[3]) for s in sessions], k=spec.orders)
    for n, (mode, visitor, session, seen, end) in enumerate(buyers):
        wanted = rng.choices((1, 2, 3, 4), weights=(50, 28, 15, 7))[0]
        chosen = list(dict.fromkeys(seen))[:wanted]
        while len(chosen) < wanted:
            extra = within[category[chosen[0]]].draw(rng)
            if extra not in chosen:
                chosen.append(extra)
        lines = [
            {
                "id": pid,
                "quantity": rng.choices((1, 2, 3), weights=(85, 12, 3))[0],
                "price": price[pid],
            }
            for pid in chosen
        ]
        orders.append(
            {
                "ts": min(end + rng.randrange(30_000, 600_000), now_ms - 1),
                "sale_id": str(1_000_000 + n),
                "lines": lines,
                "visitor_mode": mode,
                "visitor_id": visitor,
                "session": session,
                # Persistent shoppers leave an email (no draw from rng: the rest stays as is).
                "email": f"{visitor.lower()}@example.com" if mode == "persistent" else None,
                "customer": None,
            }
        )
    orders.sort(key=lambda o: o["ts"])
    picked = picks(spec, rng, catalogue, events, orders, now_ms)
    picked["rising_products"] = len(rising)
    return History(events, orders, picked)


def picks(
    spec: Spec,
    rng: random.Random,
    catalogue: list[dict[str, Any]],
    events: list[tuple[Any, ...]],
    orders: list[dict[str, Any]],
    now_ms: int,
) -> dict[str, Any]:
    """What the benchmark asks for: seed products, a category, visitors with a history."""
    views = Counter(e[5] for e in events if e[1] == "view")
    in_stock = [p for p in catalogue if p.get("stock") is None or p["stock"] > 0]
    stocked = {p["id"] for p in in_stock}
    top = next(pid for pid, _ in views.most_common() if pid in stocked)
    random_product = rng.choice(in_stock)["id"]
    category = next(p["categories"][0] for p in catalogue if p["id"] == top)
    per_visitor: Counter[str] = Counter()
    sessions: defaultdict[str, set[str]] = defaultdict(set)
    for e in events:
        if e[2] == "persistent" and e[1] == "view":
            per_visitor[e[3]] += 1
            sessions[e[3]].add(e[4])
    ordered = sorted(per_visitor.items(), key=lambda item: (item[1], item[0]))
    typical_id, typical_views = ordered[int(len(ordered) * 0.9)]
    heavy_id, heavy_views = ordered[-1]
    bought = Counter(o["visitor_id"] for o in orders if o["visitor_id"])

    def visitor(vid: str, views_: int) -> dict[str, Any]:
        return {"id": vid, "views": views_, "sessions": len(sessions[vid]), "orders": bought[vid]}

    return {
        "top_product": {"id": top, "views": views[top]},
        "random_product": {"id": random_product, "views": views[random_product]},
        "category": category,
        "category_products": sum(1 for p in catalogue if category in p["categories"]),
        "visitor": visitor(typical_id, typical_views),  # the 90th percentile by views
        "heavy_visitor": visitor(heavy_id, heavy_views),
        "persistent_visitors": len(per_visitor),
        "median_persistent_views": ordered[len(ordered) // 2][1],
        "zipf_top_share": round(views.most_common(1)[0][1] / max(1, sum(views.values())), 4),
        "now_ms": now_ms,
    }


def insert_history(db: Path, public_key: str, history: History, chunk: int = 20_000) -> int:
    """Insert the events and orders as the collector writes them, in large transactions."""
    from sqlalchemy import select

    from collector.storage.attribution import attribute_orders
    from collector.storage.engine import make_engine
    from collector.storage.schema import events, stores
    from collector.storage.tracking import event_row, record_sale

    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            store_id = int(
                conn.execute(
                    select(stores.c.id).where(stores.c.public_key == public_key)
                ).scalar_one()
            )
        statement = events.insert()
        fields = (
            "ts", "kind", "visitor_mode", "visitor_id", "session", "product_id", "api",
            "labels", "position",
        )  # fmt: skip
        for start in range(0, len(history.events), 200_000):  # one transaction each
            with engine.begin() as conn:
                batch = history.events[start : start + 200_000]
                for at in range(0, len(batch), chunk):  # one executemany each
                    rows = []
                    for values in batch[at : at + chunk]:
                        event = dict(zip(fields, values, strict=True))
                        render = event["kind"] == "render"
                        rows.append(
                            event_row(
                                store_id=store_id, data={"count": 10} if render else None, **event
                            )
                        )
                    conn.execute(statement, rows)
        with engine.begin() as conn:
            for order in history.orders:
                record_sale(conn, store_id=store_id, attribute=False, **order)
            # All orders' attribution in one statement, as migration 6 computes it.
            attribute_orders(conn, store_id=store_id)
    finally:
        engine.dispose()
    return store_id


# ---------------------------------------------------------------- a run's copy


def working_copy(dataset: Dataset, directory: Path, log: Any) -> dict[str, Any]:
    """Copy the cached file to `directory`/clerk.db; move its times forward to now."""
    target = directory / "clerk.db"
    mark = time.monotonic()
    shutil.copyfile(dataset.db, target)
    info: dict[str, Any] = {"copy_seconds": round(time.monotonic() - mark, 1)}
    age = int(time.time() * 1000) - int(dataset.meta["built_at_ms"])
    info["age_hours"] = round(age / 3_600_000, 2)
    info["shifted_ms"] = 0
    if age > SHIFT_AFTER_MS:
        mark = time.monotonic()
        with sqlite3.connect(target) as conn:
            conn.execute("UPDATE events SET ts = ts + ?", (age,))
            conn.execute("UPDATE orders SET ts = ts + ?", (age,))
            conn.execute(
                "UPDATE order_attribution SET order_ts = order_ts + ?, click_ts = click_ts + ?",
                (age, age),
            )
            for table in ("rollup_visits", "rollup_widgets", "rollup_products", "rollup_orders"):
                found = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
                ).fetchone()
                if found:  # (rollup_orders: a cache made before migration 21 has none)
                    conn.execute(f"DELETE FROM {table}")  # days moved: rolled up again
        info["shifted_ms"] = age
        info["shift_seconds"] = round(time.monotonic() - mark, 1)
        log(
            f"recs: moved event and order times forward by {age / 3_600_000:.1f} h "
            f"(the age of the cache) in {info['shift_seconds']:.1f} s"
        )
    info["now_offset_ms"] = age - info["shifted_ms"]
    return info


def describe(meta: dict[str, Any]) -> str:
    c, p = meta["counts"], meta["picks"]
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(c["events_by_kind"].items()))
    modes = ", ".join(f"{k} {v:,}" for k, v in sorted(c["events_by_visitor_mode"].items()))
    return (
        f"{c['products']:,} products ({c['products_in_stock']:,} in stock, "
        f"{c['categories']} categories), {c['events']:,} events ({kinds}; visitors: {modes}; "
        f"{c['visitor_ids']:,} distinct ids), {c['orders']:,} orders / {c['order_lines']:,} "
        f"lines; top product {p['top_product']['id']} has {p['top_product']['views']:,} views "
        f"({100 * p['zipf_top_share']:.1f}% of views); {math.ceil(meta['db_bytes'] / 2**20)} MiB"
    )
