"""Sale ids and email links (issue 9, findings 5 and 6), on both backends.

A browser can claim any sale id first; the shop's own record (log/sale with the private
key, or the orders import) replaces it. An email link's attribution is incremental and
an email's links are capped, so the work of log/email, of a sale with an email and of
log/visitor does not grow with the links and orders the email already has.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, text
from starlette.testclient import TestClient

from collector.services import Services
from collector.storage import tracking
from collector.storage.attribution import attribute_orders
from collector.storage.tracking import link_email, merge_visitor, record_sale

from .factories import StoreKeys, make_store, rows
from .test_migrations import columns, defined_indexes, indexes

DAY = 86_400


def call(client: TestClient, store: StoreKeys, endpoint: str, **body: Any) -> dict[str, Any]:
    answer = client.post(
        f"/v2/{endpoint}",
        content=json.dumps({"key": store.public_key, **body}),
        headers={"content-type": "text/plain"},
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def order_of(services: Services, sale_id: str) -> dict[str, Any]:
    [order] = [o for o in rows(services, "orders") if o["id"] == sale_id]
    lines = sorted(
        (r["line"], r["product_id"], r["quantity"], r["price"])
        for r in rows(services, "order_lines")
        if r["order_id"] == sale_id
    )
    credit = sorted(
        (r["line"], r["product_id"], r["api"])
        for r in rows(services, "order_attribution")
        if r["order_id"] == sale_id
    )
    pairs = sorted(
        (r["product_id"], r["other_id"], r["orders"]) for r in rows(services, "co_purchases")
    )
    return {**order, "lines": lines, "credit": credit, "pairs": pairs}


def test_a_private_sale_replaces_the_one_a_browser_claimed_first(client, services, store, clock):
    # The attacker logs the shop's next order id from any page, with lines of their own
    # (and a click of theirs, so that the fake line is even "sold through Clerk").
    call(client, store, "log/click", visitor="atk", product="p9", api="recommendations/popular")
    claimed = client.get(
        "/v2/log/sale",
        params={
            "key": store.public_key,
            "visitor": "atk",
            "sale": "1001",
            "products": json.dumps(
                [{"id": "p8", "quantity": 100, "price": 10000}, {"id": "p9", "quantity": 100}]
            ),
        },
    )
    assert claimed.json() == {"status": "ok", "recorded": True}
    assert order_of(services, "1001")["total"] == 1_000_000.0
    # The real shopper clicked p1 in a widget, then bought; the shop's server logs it.
    call(client, store, "log/click", visitor="v1", product="p1", api="search/search")
    clock.advance(60)
    real = {
        "visitor": "v1",
        "sale": "1001",
        "email": "ann@example.com",
        "customer": "c-7",
        "products": [{"id": "p1", "quantity": 2, "price": 10.0}, {"id": "p2", "price": 5.0}],
    }
    answer = call(client, store, "log/sale", private_key=store.private_key, **real)
    assert answer == {"status": "ok", "recorded": True, "replaced": True}
    won = order_of(services, "1001")
    assert {k: won[k] for k in ("total", "visitor_id", "email", "customer", "source")} == {
        "total": 25.0,
        "visitor_id": "v1",
        "email": "ann@example.com",
        "customer": "c-7",
        "source": "server",
    }
    assert won["ts"] == int(clock.now * 1000)
    assert won["lines"] == [(0, "p1", 2, 10.0), (1, "p2", 1, 5.0)]
    assert won["credit"] == [(0, "p1", "search/search")]  # p9's credit went with its line
    assert won["pairs"] == [("p1", "p2", 1), ("p2", "p1", 1)]  # p8-p9 taken back
    # Later browser sales with that id change nothing, and the server's is recorded once.
    clock.advance(60)
    again = call(client, store, "log/sale", visitor="atk", sale="1001", products=["p9"])
    assert again == {"status": "ok", "recorded": False}
    twice = call(client, store, "log/sale", private_key=store.private_key, **real)
    assert twice == {"status": "ok", "recorded": False, "replaced": False}
    assert order_of(services, "1001") == won


def test_a_private_sale_with_a_new_id_is_a_server_record(client, services, store):
    answer = call(
        client, store, "log/sale", private_key=store.private_key, sale="7", products=["1"]
    )
    assert answer == {"status": "ok", "recorded": True, "replaced": False}
    assert order_of(services, "7")["source"] == "server"
    assert call(client, store, "log/sale", sale="7", products=["2"])["recorded"] is False
    assert order_of(services, "7")["lines"] == [(0, "1", 1, 0.0)]


def test_the_orders_import_replaces_a_browser_recorded_order(
    client, services, store, tmp_path, monkeypatch, database_url, capsys
):
    from collector.cli import main

    monkeypatch.setenv("DATABASE_URL", database_url)
    call(client, store, "log/click", visitor="v1", product="p1", api="recommendations/popular")
    call(client, store, "log/email", visitor="v1", email="ann@example.com")
    call(client, store, "log/sale", visitor="atk", sale="o1", products=["p8", "p9"])
    call(client, store, "log/sale", visitor="v2", sale="o2", products=["p3"])
    feed = [
        {"id": "o1", "products": [{"id": "p1", "quantity": 3, "price": 2.5}, "p2"],
         "time": 1_779_940_000, "email": "ann@example.com"},
        {"id": "o3", "products": ["p4"], "time": 1_779_940_000},
    ]  # fmt: skip
    path = tmp_path / "orders.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in feed))
    assert main(["import", "orders", str(path), "--store", store.public_key]) == 0
    assert capsys.readouterr().out.endswith(
        ": 1 new, 1 replaced the browser's record, 0 already there\n"
    )
    order = order_of(services, "o1")
    assert {k: order[k] for k in ("total", "visitor_mode", "visitor_id", "email", "source")} == {
        "total": 7.5,
        "visitor_mode": "import",
        "visitor_id": None,
        "email": "ann@example.com",
        "source": "server",
    }
    assert order["ts"] == 1_779_940_000_000
    assert order["lines"] == [(0, "p1", 3, 2.5), (1, "p2", 1, 0.0)]
    assert order["credit"] == [(0, "p1", "recommendations/popular")]  # through ann's link
    assert order["pairs"] == [("p1", "p2", 1), ("p2", "p1", 1)]
    assert order_of(services, "o2")["source"] == "browser"  # not in the feed: kept
    # Importing again replaces nothing: the server's records are there.
    assert main(["import", "orders", str(path), "--store", store.public_key]) == 0
    assert capsys.readouterr().out.endswith(": 0 new, 2 already there\n")


# ------------------------------------------------------------------ email links


@pytest.fixture
def cap(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    return lambda n: monkeypatch.setattr(tracking, "MAX_LINKS_PER_EMAIL", n)


def test_an_email_keeps_its_latest_links(services, store, cap):
    cap(3)
    for n in range(5):
        services.storage.run(
            link_email, store_id=store.id, email="ann@x.example", visitor_id=f"v{n}", ts=n
        )
    services.storage.run(
        link_email, store_id=store.id, email="ann@x.example", visitor_id="v4", ts=9
    )
    kept = sorted((r["visitor_id"], r["seq"]) for r in rows(services, "email_links"))
    assert kept == [("v2", 3), ("v3", 4), ("v4", 5)]


@contextmanager
def work_done(engine: Engine) -> Iterator[dict[str, list[Any]]]:
    """The statements run meanwhile, with the rows each read (SELECT) or wrote."""
    seen: dict[str, list[Any]] = {"statements": [], "read": [], "written": []}

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool):
        seen["statements"].append(statement)
        if statement.lstrip().upper().startswith(("SELECT", "WITH", "(")):
            counter = cursor.connection.cursor()
            counter.execute(f"SELECT count(*) FROM ({statement}) AS q", parameters)
            seen["read"].append(counter.fetchone()[0])
            counter.close()
        else:
            seen["written"].append(cursor.rowcount)

    event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(engine, "after_cursor_execute", after)


def an_email_with_links(conn: Connection, store_id: int, links: int) -> None:
    """An email with `links` visitor ids (made by link_email, as log/email makes them: the
    email keeps the latest MAX_LINKS_PER_EMAIL), then clicks and orders of its own."""
    email = "ann@x.example"
    for n in range(links):  # no clicks or orders yet: nothing to attribute
        link_email(
            conn, store_id=store_id, email=email, visitor_id=f"w{n}", ts=1_000 + n, attribute=False
        )
    last = [f"w{links - k}" for k in (1, 2, 3)]  # linked at both sizes (w0 only at 100)
    for n, visitor in enumerate(["w0", *last, "new", "phone"]):
        tracking.record_event(
            conn, store_id=store_id, ts=10_000 + n, kind="click", visitor_mode="persistent",
            visitor_id=visitor, session=None, product_id=f"p{n % 3}",
            api="recommendations/popular", labels=["Home"],
        )  # fmt: skip
    for n in range(3):  # the email's orders, one by its own visitor, two by email only
        record_sale(
            conn, store_id=store_id, ts=20_000 + n, sale_id=f"o{n}",
            lines=[{"id": f"p{k}", "quantity": 1, "price": 1.0} for k in range(3)],
            visitor_mode="persistent", visitor_id=f"w{links - 1}" if n == 0 else None,
            session=None, email=email if n else None, customer=None,
        )  # fmt: skip


WORK: dict[str, Callable[..., Any]] = {
    # log/email from a visitor whose click on p1 is later than the email's visitors'
    # (and earlier than the email's orders): three lines change
    "log/email": lambda conn, store_id: link_email(
        conn, store_id=store_id, email="ann@x.example", visitor_id="new", ts=30_000
    ),
    # a sale with the email from a new device
    "log/sale": lambda conn, store_id: record_sale(
        conn,
        store_id=store_id,
        ts=30_001,
        sale_id="s1",
        lines=[
            {"id": "p1", "quantity": 1, "price": 1.0},
            {"id": "p2", "quantity": 1, "price": 1.0},
        ],
        visitor_mode="persistent",
        visitor_id="tablet",
        session=None,
        email="ann@x.example",
        customer=None,
    ),  # fmt: skip
    # log/visitor: a cookieless visit (which gave the email) carried over to a new id
    "log/visitor": lambda conn, store_id: (
        link_email(conn, store_id=store_id, email="ann@x.example", visitor_id="c-1", ts=30_002),
        merge_visitor(conn, store_id=store_id, old_id="c-1", new_id="phone", ts=30_003),
    ),
}


LARGE = 2 * tracking.MAX_LINKS_PER_EMAIL  # past the cap: as many rows kept as at any larger number


def test_the_work_of_a_new_link_does_not_grow_with_the_email_links(services):
    """log/email, a sale with an email and log/visitor run the same statements, reading
    the same rows, at 100 links and at twice MAX_LINKS_PER_EMAIL (of which the email keeps
    MAX_LINKS_PER_EMAIL: the one more row written per new link is the link dropped)."""
    work: dict[int, dict[str, dict[str, list[Any]]]] = {}
    for links in (100, LARGE):
        store = make_store(services, f"{links} links")
        services.storage.run(an_email_with_links, store_id=store.id, links=links)
        work[links] = {}
        for path, write in WORK.items():  # in turn: each links a visitor of its own
            with work_done(services.storage.engine) as seen:
                services.storage.run(write, store_id=store.id)
            work[links][path] = seen
    for path, new_links in (("log/email", 1), ("log/sale", 1), ("log/visitor", 2)):
        small, large = work[100][path], work[LARGE][path]
        assert large["statements"] == small["statements"], path
        assert large["read"] == small["read"], path
        assert sum(large["written"]) == sum(small["written"]) + new_links, path
        assert len(small["statements"]) < 40 and sum(small["read"]) < 40, path
    # new's click on p1 and phone's on p2 credit them on the email's orders: the three
    # before, and s1 (p1 when it was recorded; p2 when phone joined)
    changed = {
        (r["store_id"], r["order_id"], r["product_id"])
        for r in rows(services, "order_attribution")
        if r["click_ts"] >= 10_004
    }
    assert len(changed) == 2 * 8


def test_the_new_links_credit_is_what_attributing_afresh_gives(services, store):
    """Random histories through the real writes: the attribution stored incrementally
    (links in every order, sales with emails, merges) equals attributing every order
    afresh from what is stored."""
    rng = random.Random(9)
    visitors = [f"v{n}" for n in range(8)]
    emails = [f"e{n}@x.example" for n in range(3)]
    products = [f"p{n}" for n in range(4)]
    apis = ["recommendations/popular", "search/search", "shop/menu"]

    def history(conn: Connection) -> None:
        ts = 0
        for step in range(400):
            ts += rng.randint(1, 3) * 1000
            kind = rng.random()
            visitor = rng.choice(visitors)
            if kind < 0.45:
                tracking.record_event(
                    conn, store_id=store.id, ts=ts, kind="click", visitor_mode="persistent",
                    visitor_id=visitor, session=None, product_id=rng.choice(products),
                    api=rng.choice(apis), labels=[str(step)],
                )  # fmt: skip
            elif kind < 0.7:
                link_email(
                    conn, store_id=store.id, email=rng.choice(emails), visitor_id=visitor, ts=ts
                )
            elif kind < 0.95:
                record_sale(  # ids collide: browser, then server ones replace them
                    conn, store_id=store.id, ts=ts, sale_id=f"o{rng.randint(0, 60)}",
                    lines=[{"id": p, "quantity": 1, "price": 1.0}
                           for p in rng.sample(products, rng.randint(1, 3))],
                    visitor_mode="persistent", visitor_id=rng.choice([visitor, None]),
                    session=None, email=rng.choice([*emails, None]), customer=None,
                    source=rng.choice(["browser", "server"]),
                )  # fmt: skip
            else:
                merge_visitor(
                    conn, store_id=store.id, old_id=visitor, new_id=rng.choice(visitors), ts=ts
                )

    def credit() -> list[tuple[Any, ...]]:
        return sorted(
            (r["order_id"], r["line"], r["product_id"], r["click_ts"], r["api"], r["labels"])
            for r in rows(services, "order_attribution")
        )

    services.storage.run(history)
    stored = credit()
    assert len(stored) > 20
    services.storage.run(attribute_orders, store_id=store.id)
    assert credit() == stored


# ------------------------------------------------------------------ migration 11


def test_upgrading_from_8_marks_imported_orders_and_numbers_and_caps_links(
    services: Services, store: StoreKeys, cap
):
    def history(conn: Connection) -> None:
        for n, mode in enumerate(["persistent", "import", "none"]):
            record_sale(
                conn, store_id=store.id, ts=n, sale_id=f"o{n}", lines=[], visitor_mode=mode,
                visitor_id=None, session=None, email=None, customer=None,
            )  # fmt: skip
        for n, (email, first_seen) in enumerate(
            [("a@x", 5), ("a@x", 1), ("a@x", 3), ("a@x", 4), ("b@x", 9)]
        ):
            link_email(conn, store_id=store.id, email=email, visitor_id=f"v{n}", ts=first_seen)

    services.storage.run(history)
    engine = services.storage.engine
    with engine.begin() as conn:  # back to version 8
        conn.execute(text("DROP INDEX ix_email_links_seq"))
        conn.execute(text("DROP INDEX ix_email_links_visitor"))
        conn.execute(text("DROP INDEX ix_orders_store_email"))
        conn.execute(text("CREATE INDEX ix_orders_store_email ON orders (store_id, email)"))
        conn.execute(
            text("CREATE INDEX ix_email_links_visitor ON email_links (store_id, visitor_id)")
        )
        conn.execute(text("ALTER TABLE email_links DROP COLUMN seq"))
        conn.execute(text("ALTER TABLE orders DROP COLUMN source"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 11"))
    cap(3)
    assert services.storage.migrate() == [11]
    assert {r["id"]: r["source"] for r in rows(services, "orders")} == {
        "o0": "browser",
        "o1": "server",
        "o2": "browser",
    }
    links = sorted((r["email"], r["seq"], r["visitor_id"]) for r in rows(services, "email_links"))
    assert links == [("a@x", 2, "v2"), ("a@x", 3, "v3"), ("a@x", 4, "v0"), ("b@x", 1, "v4")]
    from collector.storage import schema

    for table in ("orders", "email_links"):
        assert indexes(engine, table) == defined_indexes(table)
        assert columns(engine, table) == {
            c.name: c.nullable for c in schema.metadata.tables[table].columns
        }
