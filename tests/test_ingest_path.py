"""The lean ingest path (collector/ingest.py) answers and stores exactly as the general one.

Two apps over two copies of one database (the same store, keys and salt): one with the
lean path, one without (create_app(ingest_path=False)). Every call of the table goes to
both, in the same order, on the same clock; their answers (status, headers, body) must be
byte for byte the same, and so must every table of the two databases at the end.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, text
from starlette.testclient import TestClient

from collector.app import create_app
from collector.ingest import IngestPath
from collector.services import Services
from collector.settings import Settings
from collector.storage.schema import metadata
from collector.storage.stores import salt_for_period

from .conftest import PostgresDatabases
from .factories import Clock, make_store

SHOP = "https://shop.example"
ELSEWHERE = "https://elsewhere.example"
ENDPOINTS = [
    "/v2/log/product",
    "/v2/log/click",
    "/v2/log/sale",
    "/v2/log/email",
    "/v2/log/returned",
    "/v2/log/basket/set",
    "/v2/log/basket/add",
    "/v2/log/basket/remove",
    "/v2/log/visitor",
]


@dataclass
class Pair:
    fast: TestClient
    general: TestClient
    fast_services: Services
    general_services: Services
    public_key: str
    private_key: str


def _copy_database(backend: str, url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        source = Path(url.removeprefix("sqlite:///"))
        target = tmp_path / "general" / "clerk.db"
        target.parent.mkdir()
        shutil.copyfile(source, target)
        return f"sqlite:///{target}"
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases._new_name()
    databases._execute(f'CREATE DATABASE "{name}" TEMPLATE "{url.rsplit("/", 1)[1]}"')
    request.addfinalizer(lambda: databases.drop_later(name))
    return databases.url(name)


@pytest.fixture
def make_pair(
    backend: str, database_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Any]:
    opened: list[tuple[TestClient, Services]] = []

    def make(**settings_fields: Any) -> Pair:
        clock = Clock()
        settings = Settings(
            database_url=database_url,
            forwarded_allow_ips=["127.0.0.1"],
            recommendation_cache_seconds=0,
            **settings_fields,
        )
        first = Services(settings, clock=clock)
        first.storage.migrate()
        keys = make_store(first, origins=[SHOP])
        period = int(clock() * 1000) // 86_400_000
        first.storage.run(salt_for_period, period=period, expires_at=(period + 1) * 86_400_000)
        assert first.secret_key  # made now, so that both copies hold it
        first.storage.dispose()  # no connection open while the database is copied
        copy_url = _copy_database(backend, database_url, request, tmp_path)
        fast_services = Services(settings, clock=clock)
        general_services = Services(replace(settings, database_url=copy_url), clock=clock)
        fast = TestClient(create_app(settings, services=fast_services))
        general = TestClient(
            create_app(general_services.settings, services=general_services, ingest_path=False)
        )
        for client, services in ((fast, fast_services), (general, general_services)):
            client.__enter__()
            opened.append((client, services))
        return Pair(
            fast, general, fast_services, general_services, keys.public_key, keys.private_key
        )

    yield make
    for client, services in opened:
        client.__exit__(None, None, None)
        services.storage.dispose()


@dataclass(frozen=True)
class Case:
    path: str
    body: bytes | str | None
    headers: dict[str, str]
    query: str = ""
    method: str = "POST"


def _body(value: Any) -> bytes | str:
    return value if isinstance(value, (bytes, str)) else json.dumps(value)


def cases(public: str, private: str) -> list[Case]:
    """Valid and invalid calls of every log/* endpoint, in every visitor mode."""
    plain = {"content-type": "text/plain;charset=UTF-8", "user-agent": "Mozilla/5.0 test"}
    page = {**plain, "origin": SHOP, "sec-fetch-site": "same-site"}
    valid = {
        "/v2/log/product": {"product": "p1"},
        "/v2/log/click": {"product": "p2", "api": "recommendations/popular", "n": 3},
        "/v2/log/sale": {
            "sale": "s1",
            "products": [{"id": "p1", "quantity": 2, "price": 9.5}, "p2"],
            "email": "a@shop.example",
            "customer": "c1",
        },
        "/v2/log/email": {"email": "b@shop.example"},
        "/v2/log/returned": {"order": "s1", "product": "p1", "quantity": 1},
        "/v2/log/basket/set": {"products": ["p1", "p2"], "email": "c@shop.example"},
        "/v2/log/basket/add": {"product": "p3"},
        "/v2/log/basket/remove": {"product": "p1"},
        "/v2/log/visitor": {"previous": "auto", "visitor": "v-consented"},
    }
    visitor_modes: list[dict[str, Any]] = [
        {},
        {"visitor": "auto"},
        {"visitor": "v-42"},
        {"visitor": None},
    ]
    found: list[Case] = []
    for path, args in valid.items():
        for n, mode in enumerate(visitor_modes):
            # Ids vary per mode, so each call records something of its own.
            own = {k: (f"{v}-{n}" if k in ("sale", "order") else v) for k, v in args.items()}
            if path == "/v2/log/visitor":
                own = {**own, **({"visitor": f"v-new{n}"} if mode.get("visitor", "auto") else {})}
            else:
                own = {**own, **mode}
            body = {"key": public, "session": f"s{n}", **own}
            found += [
                Case(path, _body(body), page),
                Case(path, _body(body), plain),
                Case(path, _body({**body, "private_key": private}), plain),
                Case(path, _body(body), {**page, "sec-gpc": "1"}),
                Case(path, _body({**body, "respect_gpc": False}), {**page, "sec-gpc": "1"}),
                Case(path, _body(body), {**page, "origin": ELSEWHERE}),
                Case(path, _body(body), {**plain, "sec-fetch-site": "cross-site"}),
                Case(path, _body({**body, "unknown": 1, "other[x]": 2}), page),
            ]
        body = {"key": public, **args}
        found += [
            Case(path, _body(body), {**plain, "content-type": "application/json"}),
            Case(
                path,
                "&".join(f"{k}={v}" for k, v in body.items() if isinstance(v, str)),
                {**plain, "content-type": "application/x-www-form-urlencoded"},
            ),
            Case(path, _body(body), plain, query=f"private_key={private}"),
            Case(path, _body(body), plain, query="private_key[x]=1"),
            Case(path, _body(body), plain, query="session=q"),
            Case(path, b"{not json", plain),
            Case(path, b"[1, 2]", plain),
            Case(path, b"\xff\xfe", plain),
            Case(path, b"\xef\xbb\xbf" + _body(body).encode(), plain),  # a UTF-8 BOM
            Case(path, b'{"key": NaN}', plain),
            Case(path, b"[" * 5000 + b"]" * 5000, plain),
            Case(path, b"", plain),
            Case(path, _body({**body, "pad": "x" * 70_000}), plain),
            Case(path, _body(body), {**plain, "content-type": "multipart/form-data; boundary=x"}),
            Case(path, _body({**body, "key": "nobody"}), plain),
            Case(path, _body({**body, "key": 12}), plain),
            Case(path, _body({k: v for k, v in body.items() if k != "key"}), plain),
            Case(path, _body({**body, "private_key": "wrong"}), plain),
            Case(path, _body({**body, "visitor": "c-AAAAAAAAAAAAAAAAAAAAAA"}), page),
            Case(path, _body({**body, "visitor": "bad id!"}), page),
            Case(path, _body({**body, "session": 5}), page),
            Case(path, _body({**body, "product": ["x"], "products": "x"}), page),
            Case(path, _body({**body, "email": "not an email"}), page),
            Case(path, _body({**body, "n": "two", "quantity": -1}), page),
            Case(path, _body(body), {**page, "origin": "null"}),
            # Not the lean path's (it takes POST only): the same answers all the same.
            Case(
                path,
                None,
                {"origin": SHOP, "access-control-request-method": "POST"},
                method="OPTIONS",
            ),
            Case(path, None, page, query=f"key={public}&product=p9", method="GET"),
        ]
    found.append(Case("/v2/log/nothing", _body({"key": public}), page))
    return found


def send(client: TestClient, case: Case) -> tuple[int, list[tuple[str, str]], bytes]:
    url = case.path + (f"?{case.query}" if case.query else "")
    answer = client.request(case.method, url, content=case.body, headers=case.headers)
    return answer.status_code, sorted(answer.headers.multi_items()), answer.content


def tables(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    with services.storage.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = conn.execute(select(table)).all()
            found[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return found


def test_the_lean_path_takes_the_log_posts_only(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'clerk.db'}"))
    lean = app.app
    assert isinstance(lean, IngestPath)
    assert sorted(lean.routes) == sorted(ENDPOINTS)


def test_the_lean_path_answers_and_stores_as_the_general_one(make_pair):
    pair = make_pair()
    table = cases(pair.public_key, pair.private_key)
    answered: dict[int, int] = {}
    for case in table:
        fast, general = send(pair.fast, case), send(pair.general, case)
        assert fast == general, case
        answered[fast[0]] = answered.get(fast[0], 0) + 1
    # The table reaches the answers it is meant to: stored calls and refusals alike.
    assert {200, 400, 403, 404, 405, 413, 415} <= set(answered), answered
    fast_rows, general_rows = tables(pair.fast_services), tables(pair.general_services)
    assert fast_rows == general_rows
    assert len(fast_rows["events"]) > 50
    modes = {row[4] for row in fast_rows["events"]}
    assert {"auto", "persistent", "none", "server"} <= modes


def test_rate_limited_answers_are_the_same(make_pair):
    pair = make_pair(rate_limit_store="3/minute", rate_limit_client="5/minute")
    body = json.dumps({"key": pair.public_key, "product": "p1"})
    headers = {"content-type": "text/plain", "origin": SHOP}
    for _ in range(7):
        fast = send(pair.fast, Case("/v2/log/product", body, headers))
        general = send(pair.general, Case("/v2/log/product", body, headers))
        if fast != general:
            # Retry-After counts whole seconds of the real clock: the two calls may fall
            # on either side of a second.
            # The header and the message both say it (and "9 s" against "10 s" moves the
            # body's length).
            waits = [dict(a[1])["retry-after"] for a in (fast, general)]
            assert abs(int(waits[0]) - int(waits[1])) == 1
            fast, general = (
                (
                    a[0],
                    [h for h in a[1] if h[0] not in ("retry-after", "content-length")],
                    re.sub(rb"try again in \d+ s", b"try again in N s", a[2]),
                )
                for a in (fast, general)
            )
        assert fast == general
    assert fast[0] == 429 and "retry-after" in dict(
        send(pair.fast, Case("/v2/log/product", body, headers))[1]
    )
    assert tables(pair.fast_services)["events"] == tables(pair.general_services)["events"]


def test_the_lean_path_is_counted_by_the_request_metrics(make_pair):
    pair = make_pair(metrics=True)
    labels = {"route": "/v2/log/product", "method": "POST", "status": "200"}
    before = REGISTRY.get_sample_value("clerk_http_requests_total", labels) or 0.0
    body = json.dumps({"key": pair.public_key, "product": "p1"})
    for client in (pair.fast, pair.general):
        assert client.post("/v2/log/product", content=body).status_code == 200
    assert REGISTRY.get_sample_value("clerk_http_requests_total", labels) == before + 2


def test_a_2xx_of_the_lean_path_is_a_committed_row(make_pair):
    pair = make_pair()
    body = json.dumps({"key": pair.public_key, "product": "committed"})
    assert pair.fast.post("/v2/log/product", content=body).status_code == 200
    # Read on a connection of its own: what it sees is committed.
    with pair.fast_services.storage.engine.connect() as conn:
        found = conn.execute(
            text("SELECT count(*) FROM events WHERE product_id = 'committed'")
        ).scalar_one()
    assert found == 1


async def _asgi_post(app: Any, path: str, pieces: list[bytes]) -> tuple[int, bytes]:
    """POST `pieces` as one body in several ASGI messages, as a server passes a body that
    arrives in several reads."""
    messages = [
        {"type": "http.request", "body": piece, "more_body": n < len(pieces) - 1}
        for n, piece in enumerate(pieces)
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"text/plain")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        else:
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["body"]


def test_a_body_in_pieces_is_read_whole_and_within_the_limit(make_pair):
    pair = make_pair(max_body_bytes=200)
    body = json.dumps({"key": pair.public_key, "product": "pieces", "visitor": "v-pieces"})
    pieces = [body[:10].encode(), b"", body[10:40].encode(), body[40:].encode()]
    big = [b'{"pad": "', b"x" * 150, b"x" * 150, b'"}']
    for client in (pair.fast, pair.general):
        portal = client.portal
        assert portal is not None
        assert portal.call(_asgi_post, client.app, "/v2/log/product", pieces) == (
            200,
            b'{"status":"ok"}',
        )
        status, answer = portal.call(_asgi_post, client.app, "/v2/log/product", big)
        assert (status, json.loads(answer)["type"]) == (413, "body_too_large")
    assert tables(pair.fast_services)["events"] == tables(pair.general_services)["events"]
