"""The email-link benchmark: log/email's work in the writer at 100, 1,000 and 5,000 links.

One store, one email holding N visitor ids (every one with a Clerk click and three
views over 60 days), 50 orders under the email (by 50 of its visitors, whatever N, so
that only the links grow), and 200 products. Then
`calls` new visitors, each with two Clerk clicks, give the email one after another:
each call is the write log/email hands to the writer (`tracking.link_email`), run in a
transaction of its own on SQLite, and timed inside it (the commit, shared by a whole
group in the collector, is left out: this is the time every other tracking write waits
behind it).

Two variants, each on a database of its own built from the same seed:

- **before**: link_email as it was until the cap and the incremental attribution (its
  body is copied here): the link, then every order of the email attributed afresh
  (`attribute_orders(orders_of_email(...))`, both still in the code); its email holds
  all N links and more, as there was no cap.
- **after**: link_email as it is (`attribute_link`; the email keeps its latest
  `MAX_LINKS_PER_EMAIL` links, so at 5,000 links made it holds 1,000).
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import summary

SIZES = (100, 1_000, 5_000)
ORDERS = 50
EMAIL = "shopper@bench.example"
DAY_MS = 86_400_000


def _before(conn: Any, *, store_id: int, email: str, visitor_id: str, ts: int) -> None:
    """link_email as it was (no cap, every order of the email attributed afresh)."""
    from sqlalchemy import select

    from collector.storage.attribution import attribute_orders, orders_of_email
    from collector.storage.engine import upsert
    from collector.storage.schema import email_links

    known = conn.execute(
        select(email_links.c.first_seen).where(
            email_links.c.store_id == store_id,
            email_links.c.email == email,
            email_links.c.visitor_id == visitor_id,
        )
    ).first()
    statement = upsert(conn, email_links).values(
        store_id=store_id, email=email, visitor_id=visitor_id, first_seen=ts, last_seen=ts
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["store_id", "email", "visitor_id"],
            set_={"last_seen": statement.excluded.last_seen},
        )
    )
    if known is None:
        attribute_orders(
            conn, store_id=store_id, order_ids=orders_of_email(conn, store_id=store_id, email=email)
        )


def _after(conn: Any, *, store_id: int, email: str, visitor_id: str, ts: int) -> None:
    from collector.storage.tracking import link_email

    link_email(conn, store_id=store_id, email=email, visitor_id=visitor_id, ts=ts)


def build(db: Path, links: int, calls: int, variant: str, seed: int) -> int:
    """The database of one size and variant; returns the store id."""
    from sqlalchemy import insert

    from collector.storage import Storage
    from collector.storage.schema import email_links, events
    from collector.storage.stores import create_store
    from collector.storage.tracking import event_row, link_email, record_sale

    rng = random.Random(seed)
    storage = Storage(f"sqlite:///{db}")
    try:
        storage.migrate()
        storage.run(create_store, name="Links", origins=[], now=0)
        store_id = 1
        start = 1_700_000_000_000
        products = [f"p{n}" for n in range(200)]

        def history(conn: Any) -> None:
            rows = []
            for n in range(links):
                ts = start + rng.randrange(60 * DAY_MS)
                for k in range(4):
                    rows.append(
                        event_row(
                            store_id=store_id, ts=ts + k * 1000, kind="click" if k == 0 else "view",
                            visitor_mode="persistent", visitor_id=f"w{n}", session=None,
                            product_id=rng.choice(products),
                            api="recommendations/popular" if k == 0 else None,
                            labels=["Home"] if k == 0 else None,
                        )
                    )  # fmt: skip
            for n in range(calls):  # the visitors who give the email during the run
                for _ in range(2):
                    rows.append(
                        event_row(
                            store_id=store_id, ts=start + rng.randrange(60 * DAY_MS),
                            kind="click", visitor_mode="persistent", visitor_id=f"new{n}",
                            session=None, product_id=rng.choice(products),
                            api="search/search", labels=[],
                        )
                    )  # fmt: skip
            conn.execute(insert(events), rows)
            if variant == "before":  # no cap then: every link stays
                conn.execute(
                    insert(email_links),
                    [
                        {"store_id": store_id, "email": EMAIL, "visitor_id": f"w{n}",
                         "first_seen": start + n, "last_seen": start + n, "seq": n + 1}
                        for n in range(links)
                    ],
                )  # fmt: skip
            else:
                for n in range(links):
                    link_email(
                        conn, store_id=store_id, email=EMAIL, visitor_id=f"w{n}",
                        ts=start + n, attribute=False,
                    )  # fmt: skip
            for n in range(0, links, links // ORDERS):
                record_sale(
                    conn, store_id=store_id, ts=start + 61 * DAY_MS + n, sale_id=f"o{n}",
                    lines=[{"id": p, "quantity": 1, "price": 10.0}
                           for p in rng.sample(products, rng.randint(1, 3))],
                    visitor_mode="persistent", visitor_id=f"w{n}", session=None, email=EMAIL,
                    customer=None, attribute=False,
                )  # fmt: skip

        storage.run(history)
        from collector.storage.attribution import attribute_orders

        storage.run(attribute_orders, store_id=store_id)
        return store_id
    finally:
        storage.dispose()


def measure(db: Path, store_id: int, calls: int, variant: str) -> dict[str, Any]:
    from sqlalchemy import func, select

    from collector.storage import Storage
    from collector.storage.schema import email_links

    write = _before if variant == "before" else _after
    storage = Storage(f"sqlite:///{db}")
    times: list[float] = []

    def timed(conn: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        write(conn, **kwargs)
        times.append((time.perf_counter() - started) * 1000)

    try:
        now = 1_700_000_000_000 + 62 * DAY_MS
        for n in range(calls):
            storage.run(timed, store_id=store_id, email=EMAIL, visitor_id=f"new{n}", ts=now + n)
        held = storage.run(
            lambda conn: conn.scalar(
                select(func.count()).select_from(email_links).where(email_links.c.email == EMAIL)
            )
        )
    finally:
        storage.dispose()
    return {"ms": summary(times), "links_held_after": int(held or 0)}


def run(calls: int, log: Any, seed: int = 1) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="clerk-bench-links-"))
    out: dict[str, Any] = {"calls": calls, "sizes": []}
    try:
        for links in SIZES:
            row: dict[str, Any] = {"links": links}
            for variant in ("before", "after"):
                db = workdir / f"{variant}-{links}.db"
                store_id = build(db, links, calls, variant, seed)
                row[variant] = measure(db, store_id, calls, variant)
                log(
                    f"links: {links} links, {variant}: p50 {row[variant]['ms']['p50']:.2f} ms, "
                    f"p95 {row[variant]['ms']['p95']:.2f} ms ({calls} calls)"
                )
            row["ratio_p50"] = round(row["before"]["ms"]["p50"] / row["after"]["ms"]["p50"], 1)
            out["sizes"].append(row)
        first, last = out["sizes"][0], out["sizes"][-1]
        out["after_growth_p50"] = round(last["after"]["ms"]["p50"] / first["after"]["ms"]["p50"], 2)
        out["before_growth_p50"] = round(
            last["before"]["ms"]["p50"] / first["before"]["ms"]["p50"], 2
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def table(r: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"log/email in the writer (SQLite; {r['calls']} new links per size; ms per call, "
        "commit excluded)",
        f"{'links':>7}{'before p50':>12}{'p95':>8}{'after p50':>11}{'p95':>8}"
        f"{'before/after':>14}{'held after':>12}",
    ]
    for row in r["sizes"]:
        b, a = row["before"]["ms"], row["after"]["ms"]
        lines.append(
            f"{row['links']:>7}{b['p50']:>12.2f}{b['p95']:>8.2f}{a['p50']:>11.2f}{a['p95']:>8.2f}"
            f"{row['ratio_p50']:>13.1f}x{row['after']['links_held_after']:>12}"
        )
    lines.append(
        f"growth from {SIZES[0]} to {SIZES[-1]} links (p50): before {r['before_growth_p50']:.2f}x, "
        f"after {r['after_growth_p50']:.2f}x"
    )
    return lines
