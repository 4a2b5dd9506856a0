"""The dashboard: sign-in and its throttling, sessions, CSRF, store access, every page
and CSV export, escaping of hostile data, Forget, stores and keys."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import text
from starlette.testclient import TestClient

from collector import keys
from collector.app import create_app
from collector.dashboard import charts, export
from collector.services import Services
from collector.storage.catalogue import upsert_products
from collector.storage.search import search_row, searches
from collector.storage.stores import create_admin
from collector.storage.tracking import record_event, record_sale

from .factories import Clock, StoreKeys, count, make_store, product, rows

PASSWORD = "correct horse battery"
OWNER = "owner@shop.example"
COOKIE = "clerk_dashboard"

# Each report page and the tables it exports.
PAGES = {
    "overview": ["summary", "sources", "visits", "daily"],
    "widgets": ["widgets"],
    "products": ["products"],
    "searches": ["top", "zero"],
    "customers": ["customers"],
    "privacy": ["events", "orders", "salts"],
    "visitor": ["events"],
}

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'
SQL = "'; DROP TABLE events; --"
LONG = "x" * 10_000


# ---------------------------------------------------------------- helpers


def make_admin(
    services: Services,
    email: str = OWNER,
    password: str = PASSWORD,
    stores: list[str] | None = None,
) -> int:
    return services.storage.run(
        create_admin, email=email, password=password, now=0, store_keys=stores
    )


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def sign_in(client: TestClient, email: str = OWNER, password: str = PASSWORD, **extra: str) -> Any:
    form = client.get("/dashboard/login")
    assert form.status_code == 200
    return client.post(
        "/dashboard/login",
        data={"csrf": csrf_of(form.text), "email": email, "password": password, **extra},
        follow_redirects=False,
    )


def token(client: TestClient) -> str:
    """The CSRF token of the signed-in session."""
    return csrf_of(client.get("/dashboard/stores").text)


def signed_out(answer: Any) -> bool:
    return answer.status_code == 303 and "/dashboard/login" in answer.headers["location"]


def api(client: TestClient, endpoint: str, body: dict[str, Any]) -> None:
    answer = client.post(f"/v2/{endpoint}", json=body)
    assert answer.status_code == 200, answer.text


def seed(client: TestClient, store: StoreKeys) -> None:
    """A little of everything, through the /v2 API: products, a view, a widget render and
    click, a search, a sale with an email."""
    key = store.public_key
    api(
        client,
        "products",
        {
            "key": key,
            "private_key": store.private_key,
            "products": [product(1, name="Blue shoe"), product(2, name="Red hat")],
        },
    )
    api(client, "log/product", {"key": key, "product": "1", "visitor": "v1"})
    answer = client.get(
        "/v2/recommendations/popular",
        params={"key": key, "visitor": "v1", "labels": '["Bestsellers"]'},
    )
    assert answer.status_code == 200
    api(
        client,
        "log/click",
        {
            "key": key,
            "product": "1",
            "api": "recommendations/popular",
            "labels": ["Bestsellers"],
            "visitor": "v1",
        },
    )
    api(client, "search/search", {"key": key, "query": "shoe", "visitor": "v1"})
    api(client, "search/search", {"key": key, "query": "unicorn", "visitor": "v1"})
    api(
        client,
        "log/sale",
        {
            "key": key,
            "sale": "o1",
            "products": [{"id": "1", "quantity": 2, "price": 10.0}],
            "email": "buyer@shop.example",
            "visitor": "v1",
        },
    )


def seed_hostile(services: Services, store: StoreKeys) -> None:
    """Markup, SQL and formula text where shops and shoppers can put text."""
    now = services.now_ms()
    names = {"h1": SCRIPT, "h2": ATTRIBUTE + SQL, "h3": LONG, "h4": "=HYPERLINK(1)"}
    services.storage.run(
        upsert_products,
        store_id=store.id,
        items=[product(pid, name=name) for pid, name in names.items()],
        now=now,
    )
    for pid in names:
        services.storage.run(
            record_event,
            store_id=store.id,
            ts=now,
            kind="view",
            visitor_mode="persistent",
            visitor_id="v9",
            session=None,
            product_id=pid,
        )
    for query in (SCRIPT, ATTRIBUTE, SQL, LONG, "=cmd|' /C calc'!A0", "@SUM(A1)"):
        services.storage.run(
            lambda conn, q=query: conn.execute(
                searches.insert(),
                [
                    search_row(
                        store_id=store.id,
                        ts=now,
                        api="search/search",
                        query=q,
                        hits=0,
                        visitor_mode="persistent",
                        visitor_id="v9",
                        session=None,
                    )
                ],
            )
        )
    for n, email in enumerate([f"{SCRIPT}@x.example", f"{ATTRIBUTE}@x.example", "=1+1@x.example"]):
        services.storage.run(
            record_sale,
            store_id=store.id,
            ts=now,
            sale_id=f"h{n}",
            lines=[{"id": "h1", "quantity": 1, "price": 5.0}],
            visitor_mode="persistent",
            visitor_id=f"v9{n}",
            session=None,
            email=email,
            customer=None,
        )


def csv_rows(answer: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(answer.text)))


@pytest.fixture
def owner(client: TestClient, services: Services, store: StoreKeys) -> TestClient:
    """The client, signed in as an admin of `store`."""
    make_admin(services, stores=[store.public_key])
    assert sign_in(client).status_code == 303
    return client


# ---------------------------------------------------------------- signing in


def test_sign_in_leads_to_the_first_store(client, services, store):
    make_admin(services, stores=[store.public_key])
    answer = sign_in(client)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/"
    home = client.get("/dashboard/", follow_redirects=False)
    assert home.headers["location"] == f"/dashboard/stores/{store.id}/overview"
    page = client.get(home.headers["location"])
    assert page.status_code == 200 and "Overview" in page.text and OWNER in page.text


def test_session_cookie_is_signed_http_only_lax_with_a_max_age(client, services, store):
    make_admin(services, stores=[store.public_key])
    cookie = sign_in(client).headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "path=/dashboard" in cookie.lower() and "max-age=43200" in cookie.lower()
    assert "secure" not in cookie.lower()


def test_session_cookie_is_secure_over_https(services, store):
    make_admin(services, stores=[store.public_key])
    app = create_app(services.settings, services=services)
    with TestClient(app, base_url="https://testserver") as client:
        cookie = sign_in(client).headers["set-cookie"]
    assert "; secure" in cookie.lower()


def test_sign_in_gives_a_new_session_and_csrf_token(client, services, store):
    make_admin(services, stores=[store.public_key])
    before = csrf_of(client.get("/dashboard/login").text)
    sign_in(client)
    assert token(client) != before


@pytest.mark.parametrize(
    "email, password",
    [(OWNER, "wrong password"), ("nobody@shop.example", PASSWORD), ("", "")],
    ids=["wrong password", "unknown email", "empty"],
)
def test_a_failed_sign_in_says_the_same_whatever_was_wrong(
    client, services, store, email, password
):
    make_admin(services, stores=[store.public_key])
    answer = sign_in(client, email, password)
    assert answer.status_code == 400
    assert "Wrong email or password." in answer.text
    assert "unknown" not in answer.text.lower() and "no such" not in answer.text.lower()
    assert signed_out(client.get("/dashboard/", follow_redirects=False))


def test_next_leads_back_inside_the_dashboard_only(client, services, store):
    make_admin(services, stores=[store.public_key])
    target = f"/dashboard/stores/{store.id}/widgets?from=2026-05-01"
    answer = client.get(target, follow_redirects=False)
    assert signed_out(answer)
    login_page = client.get(answer.headers["location"])
    next_value = re.search(r'name="next" value="([^"]+)"', login_page.text)
    assert next_value and next_value.group(1).replace("&amp;", "&") == target
    assert sign_in(client, next=target).headers["location"] == target
    for evil in ("https://evil.example/", "//evil.example/", "/dashboard//evil.example", "/x"):
        client.cookies.clear()
        assert sign_in(client, next=evil).headers["location"] == "/dashboard/", evil


def test_sign_out_is_a_post_with_csrf(owner):
    assert owner.get("/dashboard/logout").status_code == 405
    assert owner.post("/dashboard/logout", data={}).status_code == 403
    assert owner.get("/dashboard/stores", follow_redirects=False).status_code == 200
    answer = owner.post("/dashboard/logout", data={"csrf": token(owner)}, follow_redirects=False)
    assert answer.status_code == 303
    assert signed_out(owner.get("/dashboard/stores", follow_redirects=False))


def test_a_new_password_ends_the_sessions_made_with_the_old_one(owner, services, store):
    make_admin(services, password="a brand new password")
    assert signed_out(owner.get("/dashboard/stores", follow_redirects=False))


def test_sessions_end_after_twelve_hours(owner, clock: Clock):
    clock.advance(12 * 3600 + 1)
    assert signed_out(owner.get("/dashboard/stores", follow_redirects=False))


def test_sign_out_ends_the_session_for_a_copy_of_its_cookie_too(owner, services, store):
    copied = owner.cookies.get(COOKIE)
    assert copied
    answer = owner.post("/dashboard/logout", data={"csrf": token(owner)}, follow_redirects=False)
    assert answer.status_code == 303
    with TestClient(create_app(services.settings, services=services)) as thief:
        thief.cookies.set(COOKIE, copied)
        assert signed_out(thief.get("/dashboard/stores", follow_redirects=False))
        answer = thief.get(f"/dashboard/stores/{store.id}/customers.csv", follow_redirects=False)
        assert signed_out(answer)
        before = rows(services, "stores")
        answer = thief.post(
            f"/dashboard/stores/{store.id}/rotate-key",
            data={"confirm": "yes", "csrf": "x"},
            follow_redirects=False,
        )
        assert answer.status_code in (303, 403) and rows(services, "stores") == before
    assert count(services, "dashboard_sessions") == 0


def test_the_cookie_holds_only_a_signed_random_session_id(client, services, store):
    make_admin(services, stores=[store.public_key])
    sign_in(client)
    cookie = client.cookies.get(COOKIE)
    assert cookie
    session_id = TimestampSigner(services.secret_key).unsign(cookie).decode()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", session_id), session_id
    [record] = rows(services, "dashboard_sessions")
    # The database holds a hash of it: a copy of the database signs nobody in.
    assert session_id not in json.dumps(record)
    assert record["created_at"] == record["last_seen"] == services.now_ms()


def test_a_session_works_in_every_collector_process(client, second_client, services, store):
    make_admin(services, stores=[store.public_key])
    sign_in(client)
    second_client.cookies.set(COOKIE, client.cookies.get(COOKIE) or "")
    assert second_client.get("/dashboard/stores", follow_redirects=False).status_code == 200


def test_last_seen_moves_and_old_sessions_are_deleted(owner, client, services, clock, store):
    clock.advance(600)
    assert owner.get("/dashboard/stores", follow_redirects=False).status_code == 200
    [record] = rows(services, "dashboard_sessions")
    assert record["last_seen"] == record["created_at"] + 600_000
    clock.advance(12 * 3600)
    assert signed_out(owner.get("/dashboard/stores", follow_redirects=False))
    with TestClient(create_app(services.settings, services=services)) as other:
        assert sign_in(other).status_code == 303  # a sign-in deletes the expired records
    [record] = rows(services, "dashboard_sessions")
    assert record["created_at"] == services.now_ms()


# ---------------------------------------------------------------- throttling


@pytest.fixture
def second_client(services: Services, clock: Clock) -> Iterator[TestClient]:
    """Another collector process (its own app and services) on the same database."""
    other = Services(services.settings, clock=clock)
    with TestClient(create_app(other.settings, services=other)) as client:
        yield client
    other.storage.dispose()


def test_five_failures_throttle_even_the_right_password_across_processes(
    client, second_client, services, store
):
    make_admin(services, stores=[store.public_key])
    for n in range(5):
        answer = sign_in(client if n % 2 else second_client, OWNER, f"wrong {n}")
        assert answer.status_code == 400
    for each in (client, second_client):
        answer = sign_in(each, OWNER, PASSWORD)
        assert answer.status_code == 429
        assert "Too many failed sign-ins" in answer.text
        assert answer.headers["retry-after"] == "900"
        assert signed_out(each.get("/dashboard/", follow_redirects=False))


def test_throttling_ends_after_fifteen_minutes(client, services, store, clock):
    make_admin(services, stores=[store.public_key])
    for n in range(5):
        sign_in(client, OWNER, f"wrong {n}")
    assert sign_in(client).status_code == 429
    clock.advance(15 * 60 + 1)
    assert sign_in(client).status_code == 303


def test_failures_from_one_address_throttle_every_email_and_a_success_clears_nothing(
    client, second_client, services, store
):
    make_admin(services, stores=[store.public_key])
    make_admin(services, email="other@shop.example")
    for n in range(4):
        assert sign_in(client, f"guess{n}@shop.example", "whatever").status_code == 400
    # Someone else signs in from the same address: the address's count stays.
    assert sign_in(second_client, "other@shop.example", PASSWORD).status_code == 303
    assert sign_in(client, "guess9@shop.example", "whatever").status_code == 400
    assert sign_in(client, OWNER, PASSWORD).status_code == 429


def test_failures_are_stored_without_the_address_or_the_email(client, services, store):
    make_admin(services, stores=[store.public_key])
    sign_in(client, "someone@shop.example", "wrong")
    stored = json.dumps(rows(services, "login_failures"))
    assert "testclient" not in stored and "someone" not in stored
    assert count(services, "login_failures") == 2  # one by email, one by address


# ---------------------------------------------------------------- sessions and CSRF


def test_a_tampered_or_forged_session_cookie_leads_to_sign_in(owner, services, store):
    good = owner.cookies.get(COOKIE)
    assert good
    payload, _, signature = good.partition(".")
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + signature
    session_id = TimestampSigner(services.secret_key).unsign(good).decode()
    forged = TimestampSigner("not the secret" * 3).sign(session_id).decode()
    unknown = TimestampSigner(services.secret_key).sign("x" * 43).decode()
    old_style = TimestampSigner(services.secret_key).sign(
        base64.b64encode(json.dumps({"admin": 1, "at": services.now_ms()}).encode())
    )
    for cookie in (tampered, forged, unknown, old_style.decode(), "garbage"):
        owner.cookies.clear()
        owner.cookies.set(COOKIE, cookie)
        answer = owner.get(f"/dashboard/stores/{store.id}/overview", follow_redirects=False)
        assert signed_out(answer), cookie


def csrf_posts(store_id: int) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"/dashboard/stores/{store_id}/forget", {"email": "buyer@shop.example"}),
        ("/dashboard/stores", {"name": "Sneaky shop", "origins": ""}),
        (f"/dashboard/stores/{store_id}/rotate-key", {"confirm": "yes"}),
        (f"/dashboard/stores/{store_id}/origins", {"origins": "https://evil.example"}),
        ("/dashboard/logout", {}),
        ("/dashboard/login", {"email": OWNER, "password": PASSWORD}),
    ]


@pytest.mark.parametrize("bad", [None, "", "wrong-token"], ids=["absent", "empty", "wrong"])
def test_a_post_without_the_right_csrf_token_is_refused_and_changes_nothing(
    owner, services, store, bad
):
    seed(owner, store)
    before = {t: rows(services, t) for t in ("stores", "orders", "email_links", "events")}
    for path, form in csrf_posts(store.id):
        data = form if bad is None else {**form, "csrf": bad}
        answer = owner.post(path, data=data, follow_redirects=False)
        assert answer.status_code == 403, path
        assert "nothing was done" in answer.text
    assert {t: rows(services, t) for t in before} == before
    assert owner.get("/dashboard/stores", follow_redirects=False).status_code == 200


def test_a_token_of_another_session_is_refused(owner, services, store):
    seed(owner, store)
    make_admin(services, email="b@shop.example", stores=[store.public_key])
    with TestClient(create_app(services.settings, services=services)) as other:
        assert sign_in(other, "b@shop.example").status_code == 303
        foreign = token(other)
    answer = owner.post(
        f"/dashboard/stores/{store.id}/forget",
        data={"csrf": foreign, "email": "buyer@shop.example"},
    )
    assert answer.status_code == 403
    assert count(services, "email_links") == 1


# ---------------------------------------------------------------- store access


def report_urls(store_id: int) -> list[str]:
    urls = []
    for name, tables in PAGES.items():
        urls.append(f"/dashboard/stores/{store_id}/{name}")
        for table in tables:
            urls.append(f"/dashboard/stores/{store_id}/{name}.csv?table={table}")
            urls.append(f"/dashboard/stores/{store_id}/{name}?format=csv&table={table}")
    return urls


def test_another_admins_store_is_not_found_on_every_page_and_csv(owner, services, store):
    other = make_store(services, "Someone else's shop")
    make_admin(services, email="other@shop.example", stores=[other.public_key])
    seed(owner, other)
    missing = owner.get("/dashboard/stores/999999/overview")
    assert missing.status_code == 404
    for url in report_urls(other.id):
        answer = owner.get(url)
        assert answer.status_code == 404, url
        assert "Someone else" not in answer.text and other.public_key not in answer.text
        assert answer.text == owner.get(url.replace(f"/{other.id}/", "/999999/")).text
    csrf = token(owner)
    posts = [
        (f"/dashboard/stores/{other.id}/forget", {"csrf": csrf, "email": "buyer@shop.example"}),
        (f"/dashboard/stores/{other.id}/rotate-key", {"csrf": csrf, "confirm": "yes"}),
        (f"/dashboard/stores/{other.id}/origins", {"csrf": csrf, "origins": "https://e.example"}),
    ]
    stored = rows(services, "stores")
    for path, form in posts:
        assert owner.post(path, data=form).status_code == 404
    assert rows(services, "stores") == stored
    assert count(services, "email_links") == 1
    switched = owner.get(f"/dashboard/switch?store={other.id}&page=overview")
    assert switched.status_code == 404
    listing = owner.get("/dashboard/stores")
    assert "Someone else" not in listing.text and other.public_key not in listing.text


def test_unknown_dashboard_paths_are_an_html_404(owner):
    answer = owner.get("/dashboard/nothing/here")
    assert answer.status_code == 404 and "text/html" in answer.headers["content-type"]


# ---------------------------------------------------------------- pages and CSV


@pytest.mark.parametrize("with_data", [False, True], ids=["empty store", "store with data"])
def test_every_page_and_every_csv_answers(owner, services, store, with_data):
    if with_data:
        seed(owner, store)
    for url in [*report_urls(store.id), f"/dashboard/stores/{store.id}/visitor?id=v1"]:
        answer = owner.get(url)
        assert answer.status_code == 200, url
        if ".csv" in url or "format=csv" in url:
            assert answer.headers["content-type"] == "text/csv; charset=utf-8"
            disposition = answer.headers["content-disposition"]
            assert re.fullmatch(r'attachment; filename="[a-z0-9-]+\.csv"', disposition), disposition
            assert len(csv_rows(answer)) >= 1  # the header at least
        else:
            assert answer.headers["content-type"].startswith("text/html")
            assert "<script" not in answer.text
    for url in ("/dashboard/stores", "/dashboard/stores.csv", "/dashboard/static/dashboard.css"):
        assert owner.get(url).status_code == 200, url


def test_pages_send_security_headers(owner, store):
    answer = owner.get(f"/dashboard/stores/{store.id}/overview")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"


def test_overview_shows_orders_revenue_and_what_clerk_did(owner, store):
    seed(owner, store)
    page = owner.get(f"/dashboard/stores/{store.id}/overview").text
    assert "<svg" in page and 'class="chart"' in page
    summary = csv_rows(owner.get(f"/dashboard/stores/{store.id}/overview.csv?table=summary"))
    values = dict(zip(summary[0], summary[1], strict=True))
    assert values["orders"] == "1" and float(values["revenue"]) == 20.0
    assert values["impacted_orders"] == "1" and float(values["share"]) == 1.0
    daily = csv_rows(owner.get(f"/dashboard/stores/{store.id}/overview.csv?table=daily"))
    assert daily[0][:3] == ["date", "orders", "revenue"] and len(daily) == 31


def test_reports_show_the_seeded_data(owner, store):
    seed(owner, store)
    base = f"/dashboard/stores/{store.id}"
    widgets = owner.get(f"{base}/widgets").text
    assert "recommendations/popular" in widgets and "Bestsellers" in widgets
    assert "Blue shoe" in owner.get(f"{base}/products").text
    found = owner.get(f"{base}/searches").text
    assert "shoe" in found and "unicorn" in found
    customers = owner.get(f"{base}/customers").text
    assert "buyer@shop.example" in customers and f"{base}/visitor?id=v1" in customers
    assert "buyer" not in owner.get(f"{base}/customers?q=nobody").text
    log = owner.get(f"{base}/visitor?id=v1").text
    assert "recommendations/popular" in log and "click" in log
    privacy = owner.get(f"{base}/privacy").text
    assert "persistent" in privacy and "396 days" in privacy


@pytest.mark.parametrize(
    "query, message",
    [
        ("from=2026-13-01", "is not a date that exists"),
        ("from=yesterday", "YYYY-MM-DD"),
        ("from=2026-05-20&to=2026-05-01", "starts (2026-05-20) after it ends"),
        ("from=2000-01-01&to=2026-01-01", "at most"),
        ("to=%22%3E%3Cscript%3E", "YYYY-MM-DD"),
    ],
)
def test_a_bad_date_range_is_explained_on_the_page(owner, store, query, message):
    for name in ("overview", "widgets", "products", "searches", "privacy"):
        answer = owner.get(f"/dashboard/stores/{store.id}/{name}?{query}")
        assert answer.status_code == 400
        assert message in answer.text.replace("&#34;", '"').replace("&#39;", "'")
        assert "<script>" not in answer.text
    exported = owner.get(f"/dashboard/stores/{store.id}/overview.csv?{query}")
    assert exported.status_code == 400 and message in exported.text


def test_the_date_range_defaults_to_the_last_30_days_and_is_kept_across_pages(owner, store):
    page = owner.get(f"/dashboard/stores/{store.id}/widgets").text
    assert "2026-04-29 to 2026-05-28 (30 days, UTC)" in page
    page = owner.get(f"/dashboard/stores/{store.id}/widgets?from=2026-05-01&to=2026-05-07").text
    assert f"/dashboard/stores/{store.id}/products?from=2026-05-01&amp;to=2026-05-07" in page


# ---------------------------------------------------------------- hostile text


def test_hostile_text_is_shown_escaped_everywhere(owner, services, store):
    seed_hostile(services, store)
    base = f"/dashboard/stores/{store.id}"
    pages = {
        "products": owner.get(f"{base}/products").text,
        "searches": owner.get(f"{base}/searches").text,
        "customers": owner.get(f"{base}/customers").text,
        "customer search": owner.get(f"{base}/customers", params={"q": SCRIPT}).text,
        "visitor": owner.get(f"{base}/visitor", params={"id": SCRIPT}).text,
    }
    for name, html in pages.items():
        assert SCRIPT not in html and "<img" not in html, name
    for name in ("products", "searches", "customers"):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[name], name
        assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in pages[name], name
    assert "&#39;; DROP TABLE events; --" in pages["searches"]
    assert LONG in pages["products"] and LONG[:200] in pages["searches"]
    assert count(services, "events") == 4  # the SQL text was only text


def test_csv_cells_that_would_be_formulas_are_neutralised(owner, services, store):
    seed_hostile(services, store)
    base = f"/dashboard/stores/{store.id}"
    top = csv_rows(owner.get(f"{base}/searches.csv?table=top"))
    queries = {row[0] for row in top[1:]}
    assert "'=cmd|' /C calc'!A0" in queries and "'@SUM(A1)" in queries
    assert SCRIPT in queries and "'; DROP TABLE events; --" in queries  # ' already first
    assert not any(q.startswith(("=", "+", "-", "@")) for q in queries)
    names = {row[1] for row in csv_rows(owner.get(f"{base}/products.csv"))[1:]}
    assert "'=HYPERLINK(1)" in names and LONG in names
    emails = {row[0] for row in csv_rows(owner.get(f"{base}/customers.csv"))[1:]}
    assert "'=1+1@x.example" in emails


def test_export_neutralises_every_formula_start():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert export.neutralise(start + "1") == "'" + start + "1"
    assert export.neutralise("plain") == "plain"
    assert export.value(-5) == "-5"  # numbers are numbers, not formulas


def test_charts_escape_their_text():
    svg = str(
        charts.bar_chart(
            "<b>title</b>",
            [SCRIPT],
            [{"a": 1.0}],
            [charts.Series("a", ATTRIBUTE, "total")],
        )
    )
    assert SCRIPT not in svg and "<img" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg and "&lt;b&gt;title&lt;/b&gt;" in svg


# ---------------------------------------------------------------- Forget


def test_forget_removes_the_customer_and_keeps_orders_anonymised(owner, services, store):
    seed(owner, store)
    base = f"/dashboard/stores/{store.id}"
    assert "buyer@shop.example" in owner.get(f"{base}/customers").text
    answer = owner.post(
        f"{base}/forget", data={"csrf": token(owner), "email": "buyer@shop.example"}
    )
    assert answer.status_code == 200
    assert "1 order kept, anonymised" in answer.text and "1 visitor id" in answer.text
    assert "buyer@shop.example" not in owner.get(f"{base}/customers").text
    [order] = rows(services, "orders")
    assert order["id"] == "o1" and order["total"] == 20.0
    assert (order["email"], order["visitor_id"], order["customer"]) == (None, None, None)
    assert count(services, "email_links") == 0
    assert not [e for e in rows(services, "events") if e["visitor_id"] == "v1"]
    assert "No events of this visitor" in owner.get(f"{base}/visitor?id=v1").text


def test_forget_a_visitor_from_its_log(owner, services, store):
    seed(owner, store)
    answer = owner.post(
        f"/dashboard/stores/{store.id}/forget", data={"csrf": token(owner), "visitor": "v1"}
    )
    assert answer.status_code == 200
    assert not [e for e in rows(services, "events") if e["visitor_id"] == "v1"]


def test_forget_needs_someone_to_forget(owner, store):
    answer = owner.post(f"/dashboard/stores/{store.id}/forget", data={"csrf": token(owner)})
    assert answer.status_code == 400


# ---------------------------------------------------------------- stores and keys


def test_create_a_store_shows_its_private_key_once_and_grants_it(owner, services):
    answer = owner.post(
        "/dashboard/stores",
        data={"csrf": token(owner), "name": "Second shop", "origins": "https://b.example\n"},
    )
    assert answer.status_code == 200
    private_key = re.search(r"sk_[A-Za-z0-9_-]+", answer.text)
    assert private_key
    [row] = [r for r in rows(services, "stores") if r["name"] == "Second shop"]
    assert row["private_key_hash"] == keys.hash_private_key(private_key.group(0))
    assert json.loads(row["origins"]) == ["https://b.example"]
    assert owner.get(f"/dashboard/stores/{row['id']}/overview").status_code == 200
    assert private_key.group(0) not in owner.get("/dashboard/stores").text


@pytest.mark.parametrize(
    "form, message",
    [
        ({"name": "", "origins": ""}, "name of 1 to 200"),
        ({"name": "Shop", "origins": "https://b.example/path"}, "is not an origin"),
        ({"name": "Shop", "origins": "javascript:alert(1)"}, "is not an origin"),
    ],
)
def test_create_a_store_checks_its_form(owner, services, form, message):
    before = count(services, "stores")
    answer = owner.post("/dashboard/stores", data={"csrf": token(owner), **form})
    assert answer.status_code == 400 and message in answer.text
    assert count(services, "stores") == before


def test_rotate_key_replaces_the_private_key(owner, services, store):
    base = f"/dashboard/stores/{store.id}/rotate-key"

    def stats(private_key: str) -> int:
        answer = owner.post(
            "/v2/stats/overview", json={"key": store.public_key, "private_key": private_key}
        )
        return answer.status_code

    assert stats(store.private_key) == 200  # the store is cached now
    unconfirmed = owner.post(base, data={"csrf": token(owner)})
    assert unconfirmed.status_code == 400
    assert keys.private_key_matches(
        store.private_key, rows(services, "stores")[0]["private_key_hash"]
    )
    answer = owner.post(base, data={"csrf": token(owner), "confirm": "yes"})
    assert answer.status_code == 200
    new_key = re.search(r"sk_[A-Za-z0-9_-]+", answer.text)
    assert new_key and new_key.group(0) != store.private_key
    stored = rows(services, "stores")[0]["private_key_hash"]
    assert keys.private_key_matches(new_key.group(0), stored)
    assert not keys.private_key_matches(store.private_key, stored)
    # This process stops accepting the old key at once.
    assert stats(store.private_key) == 403
    assert stats(new_key.group(0)) == 200


def test_the_stores_page_shows_and_edits_each_stores_origins(owner, services, store):
    """Personal calls are answered only to a store's origins: the owner adds the shop's
    here, and this process uses the new list at once."""
    history = {"key": store.public_key, "visitor": "v1"}
    shop = {"origin": "http://localhost:8001"}
    path = "/v2/recommendations/visitor/history"
    assert owner.post(path, json=history, headers=shop).status_code == 403  # cached: no list
    page = owner.get("/dashboard/stores").text
    assert "no page gets personal widgets" in page
    answer = owner.post(
        f"/dashboard/stores/{store.id}/origins",
        data={"csrf": token(owner), "origins": "HTTPS://Shop.Example/\nhttp://localhost:8001\n"},
    )
    assert answer.status_code == 200 and "saved" in answer.text
    [row] = rows(services, "stores")
    assert json.loads(row["origins"]) == ["https://shop.example", "http://localhost:8001"]
    assert "https://shop.example\nhttp://localhost:8001</textarea>" in answer.text
    served = owner.post(path, json=history, headers=shop)
    assert served.status_code == 200
    assert served.headers["access-control-allow-origin"] == "http://localhost:8001"
    # Emptied again: no page gets personal calls.
    owner.post(f"/dashboard/stores/{store.id}/origins", data={"csrf": token(owner), "origins": ""})
    assert json.loads(rows(services, "stores")[0]["origins"]) == []
    assert owner.post(path, json=history, headers=shop).status_code == 403


@pytest.mark.parametrize(
    "origins",
    ["https://shop.example/path", "shop.example", "*", "null", "https://a.example\nftp://b"],
)
def test_the_stores_page_refuses_what_is_not_an_origin(owner, services, store, origins):
    before = rows(services, "stores")
    answer = owner.post(
        f"/dashboard/stores/{store.id}/origins", data={"csrf": token(owner), "origins": origins}
    )
    assert answer.status_code == 400
    assert "is not an origin: give scheme and host only" in answer.text
    assert rows(services, "stores") == before


def test_an_admin_without_stores_sees_the_stores_page(client, services, store):
    make_admin(services, email="new@shop.example", stores=[])
    sign_in(client, "new@shop.example")
    home = client.get("/dashboard/", follow_redirects=False)
    assert home.headers["location"] == "/dashboard/stores"
    page = client.get("/dashboard/stores").text
    assert "You have no store yet" in page and store.public_key not in page


# ---------------------------------------------------------------- grants and migration


def test_create_admin_without_stores_grants_every_store_there_is(services, store):
    other = make_store(services, "Second")
    admin_id = make_admin(services)
    make_store(services, "Made later")
    granted = {r["store_id"] for r in rows(services, "admin_stores") if r["admin_id"] == admin_id}
    assert granted == {store.id, other.id}


def test_the_migration_gives_existing_admins_every_existing_store(services, store):
    other = make_store(services, "Second")
    admin_id = make_admin(services, stores=[])
    with services.storage.engine.begin() as conn:
        conn.execute(text("DROP TABLE admin_stores"))
        conn.execute(text("DROP TABLE login_failures"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 7"))
    assert services.storage.migrate() == [7]
    granted = {(r["admin_id"], r["store_id"]) for r in rows(services, "admin_stores")}
    assert granted == {(admin_id, store.id), (admin_id, other.id)}
