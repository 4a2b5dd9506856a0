"""Store slugs and each store's own script at /<slug>.js: made from the name, unique,
backfilled by migration 13, editable in the dashboard, listed by the CLI; the script is
/clerk.js after a prelude that sets the store's key, with its own ETag."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import inspect, text
from starlette.testclient import TestClient

from collector.app import create_app
from collector.cli import main
from collector.ratelimit import RateLimits
from collector.script import NO_STORE_SCRIPT, prelude
from collector.storage.stores import SlugTaken, parse_slug, set_store_slug, slug_from_name

from .factories import make_store, rows
from .test_dashboard import csrf_of, make_admin, sign_in


def never(slug: str) -> bool:
    return False


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Demo Shop", "demo-shop"),
        ("  Crème Brûlée & Co. ", "creme-brulee-co"),
        ("Ærø Straße", "aero-strasse"),
        ("商店", "store"),
        ("---", "store"),
        ("Clerk", "store-clerk"),
        ("Clerk Render", "store-clerk-render"),
        ("x" * 200, "x" * 56),
    ],
)
def test_a_slug_is_made_from_the_name(name, slug):
    made = slug_from_name(name, never)
    assert made == slug and re.fullmatch(r"[a-z0-9-]{1,64}", made)


def test_a_taken_slug_gets_a_number():
    taken = {"demo-shop", "demo-shop-2"}
    assert slug_from_name("Demo Shop", taken.__contains__) == "demo-shop-3"


@pytest.mark.parametrize(
    "typed", ["", "a b", "Ünï", "x" * 65, "clerk", "clerk-render", "a/b", "a.js"]
)
def test_a_typed_slug_must_follow_the_rule(typed):
    with pytest.raises(ValueError, match="a-z, 0-9 and -"):
        parse_slug(typed)


def test_a_typed_slug_is_trimmed_and_lower_cased():
    assert parse_slug("  My-Shop-2 ") == "my-shop-2"


def test_new_stores_get_unique_slugs(services):
    first = make_store(services, name="Demo Shop")
    second = make_store(services, name="Demo shop!")
    slugs = {r["id"]: r["slug"] for r in rows(services, "stores")}
    assert slugs == {first.id: "demo-shop", second.id: "demo-shop-2"}
    with pytest.raises(SlugTaken):
        services.storage.run(set_store_slug, store_id=second.id, slug="demo-shop")
    services.storage.run(set_store_slug, store_id=first.id, slug="demo-shop")  # its own: fine


def test_migration_13_gives_the_stores_there_are_slugs_from_their_names(services):
    for name in ("Demo Shop", "Demo Shop", "Clerk"):
        make_store(services, name=name)
    engine = services.storage.engine
    with engine.begin() as conn:  # back to version 11: no slugs, no categories or pages
        conn.execute(text("DROP TABLE categories"))
        conn.execute(text("DROP TABLE pages"))
        conn.execute(text("DROP INDEX ux_stores_slug"))
        conn.execute(text("ALTER TABLE stores DROP COLUMN slug"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 13"))
    assert "slug" not in {c["name"] for c in inspect(engine).get_columns("stores")}
    assert services.storage.migrate() == [13]
    slugs = [r["slug"] for r in sorted(rows(services, "stores"), key=lambda r: r["id"])]
    assert slugs == ["demo-shop", "demo-shop-2", "store-clerk"]
    assert services.storage.migrate() == []


def test_a_new_database_has_the_tables_schema_py_defines(services):
    from collector.storage import schema

    engine = services.storage.engine
    for table in ("stores", "categories", "pages"):
        found = {c["name"]: c["nullable"] for c in inspect(engine).get_columns(table)}
        assert found == {c.name: c.nullable for c in schema.metadata.tables[table].columns}
        key = inspect(engine).get_pk_constraint(table)["constrained_columns"]
        assert key == [c.name for c in schema.metadata.tables[table].primary_key]
    unique = {
        ix["name"]: (ix["column_names"], bool(ix["unique"]))
        for ix in inspect(engine).get_indexes("stores")
    }
    assert unique["ux_stores_slug"] == (["slug"], True)


# ---------------------------------------------------------------- /<slug>.js


def test_the_store_script_is_clerk_js_after_a_prelude_with_the_key(client, services):
    store = make_store(services, name="Demo Shop")
    plain = client.get("/clerk.js")
    own = client.get("/demo-shop.js")
    assert own.status_code == 200
    assert own.content == prelude(store.public_key) + plain.content
    assert own.content.startswith(
        b'(window.__clerk_q=window.__clerk_q||[]).unshift&&window.__clerk_q.unshift(["config",'
        + b'{key:"'
        + store.public_key.encode()
        + b'"}]);'
    )
    for header in ("cache-control", "vary", "access-control-allow-origin"):
        assert own.headers[header] == plain.headers[header]
    assert own.headers["content-type"] == plain.headers["content-type"]
    assert own.headers["x-content-type-options"] == "nosniff"
    # its own ETag (the bytes differ per store), and a 304 for it
    assert own.headers["etag"] != plain.headers["etag"]
    again = client.get("/demo-shop.js", headers={"if-none-match": own.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    stale = client.get("/demo-shop.js", headers={"if-none-match": plain.headers["etag"]})
    assert stale.status_code == 200
    zipped = client.get("/demo-shop.js", headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == own.content
    head = client.head("/demo-shop.js")
    assert head.status_code == 200 and head.content == b""


def test_each_store_gets_its_own_key_and_etag(client, services):
    first, second = make_store(services, name="One"), make_store(services, name="Two")
    one, two = client.get("/one.js"), client.get("/two.js")
    assert first.public_key.encode() in one.content[:200]
    assert second.public_key.encode() in two.content[:200]
    assert one.headers["etag"] != two.headers["etag"]


@pytest.mark.parametrize("path", ["/no-such-shop.js", "/clerk-x.js", "/Demo-Shop.js", "/a%20b.js"])
def test_an_unknown_slug_is_a_404_that_reveals_nothing_and_is_not_cached(client, services, path):
    make_store(services, name="Demo Shop")
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.content == NO_STORE_SCRIPT
    assert answer.headers["content-type"].startswith("application/javascript")
    assert answer.headers["cache-control"] == "no-store"
    assert "etag" not in answer.headers and "access-control-allow-origin" not in answer.headers


def test_the_store_route_shadows_no_other_address(client, services):
    make_store(services, name="Demo Shop")
    assert client.get("/clerk.js").content.startswith(b"(window.__clerk_q") is False
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/").json()["script"] == "/clerk.js"
    assert client.get("/dashboard/login").status_code == 200
    assert client.get("/v2/nothing.js").json()["type"] == "not_found"  # JSON, not the script 404


def test_probing_slugs_meets_the_per_client_rate_limit(services, monkeypatch):
    services.limits = RateLimits(client="3/minute", store="")
    with TestClient(create_app(services.settings, services=services)) as client:
        answers = [client.get(f"/guess-{n}.js").status_code for n in range(5)]
    assert answers[:3] == [404, 404, 404] and answers[3:] == [429, 429]


# ---------------------------------------------------------------- dashboard and CLI


def test_the_stores_page_shows_the_slug_and_a_ready_script_tag(client, services):
    store = make_store(services, name="Demo Shop")
    make_admin(services, stores=[store.public_key])
    sign_in(client)
    page = client.get("/dashboard/stores").text
    assert 'value="demo-shop"' in page
    assert "e.src='http://testserver/demo-shop.js'" in page
    csv = client.get("/dashboard/stores.csv").text
    assert "slug" in csv.splitlines()[0].split(",") and "demo-shop" in csv


def test_the_dashboard_changes_a_slug_and_the_script_moves(client, services):
    store = make_store(services, name="Demo Shop")
    other = make_store(services, name="Other")
    make_admin(services, stores=[store.public_key])
    sign_in(client)
    assert client.get("/demo-shop.js").status_code == 200  # cached in this process now
    token = csrf_of(client.get("/dashboard/stores").text)
    saved = client.post(f"/dashboard/stores/{store.id}/slug", data={"csrf": token, "slug": "Demo"})
    assert saved.status_code == 200 and "Slug of “Demo Shop” saved" in saved.text
    assert client.get("/demo-shop.js").status_code == 404
    assert store.public_key.encode() in client.get("/demo.js").content[:200]
    for slug, problem in (("other", "Another store has the slug other."), ("no way", "a-z")):
        refused = client.post(
            f"/dashboard/stores/{store.id}/slug", data={"csrf": token, "slug": slug}
        )
        assert refused.status_code == 400 and problem in refused.text
        assert f'value="{slug}"' in refused.text  # the typed value, to correct it
    # a store the admin may not see, and a missing CSRF token: nothing changes
    foreign = client.post(f"/dashboard/stores/{other.id}/slug", data={"csrf": token, "slug": "x"})
    assert foreign.status_code == 404
    forged = client.post(f"/dashboard/stores/{store.id}/slug", data={"slug": "forged"})
    assert forged.status_code in (400, 403)
    slugs = sorted(r["slug"] for r in rows(services, "stores"))
    assert slugs == ["demo", "other"]


def test_a_store_made_in_the_dashboard_is_served_at_once_even_after_a_probe(client, services):
    store = make_store(services, name="Demo Shop")
    make_admin(services, stores=[store.public_key])
    sign_in(client)
    assert client.get("/new-shop.js").status_code == 404  # this process now knows "none"
    token = csrf_of(client.get("/dashboard/stores").text)
    made = client.post("/dashboard/stores", data={"csrf": token, "name": "New Shop"})
    assert "http://testserver/new-shop.js" in made.text  # shown with the new keys
    [row] = [r for r in rows(services, "stores") if r["name"] == "New Shop"]
    assert row["public_key"].encode() in client.get("/new-shop.js").content[:200]


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


def test_the_cli_sets_and_lists_slugs(db, capsys):
    assert main(["create-store", "Demo Shop"]) == 0
    assert "script:      /demo-shop.js" in capsys.readouterr().out
    assert main(["create-store", "Second", "--slug", "My-Second", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["slug"] == "my-second"
    assert main(["create-store", "Third", "--slug", "my-second"]) == 2
    assert "--slug: Another store has the slug my-second." in capsys.readouterr().err
    assert main(["create-store", "Fourth", "--slug", "clerk"]) == 2
    assert "--slug: A slug is" in capsys.readouterr().err
    assert main(["stores", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["name"], s["slug"], s["script"]) for s in listed] == [
        ("Demo Shop", "demo-shop", "/demo-shop.js"),
        ("Second", "my-second", "/my-second.js"),
    ]
    assert main(["stores"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[0::2] == ["Demo Shop", "/demo-shop.js"]
