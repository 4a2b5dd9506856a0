"""The command line: migrate, create-store, create-admin."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from collector import keys
from collector.cli import main


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


@pytest.fixture
def empty_db(monkeypatch: pytest.MonkeyPatch, empty_database_url: str) -> str:
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    return empty_database_url


def one(url: str, sql: str) -> dict[str, object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text(sql)).one()._mapping)
    finally:
        engine.dispose()


def test_create_store_json_prints_keys_and_stores_only_the_hash(db, capsys):
    assert main(["create-store", "My shop", "--origin", "https://shop.example", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"public_key", "private_key", "slug"} and printed["slug"] == "my-shop"
    row = one(db, "SELECT * FROM stores")
    assert row["public_key"] == printed["public_key"]
    assert row["private_key_hash"] == keys.hash_private_key(printed["private_key"])
    assert printed["private_key"] not in json.dumps(row, default=str)
    assert json.loads(str(row["origins"])) == ["https://shop.example"]


@pytest.mark.parametrize("origin", ["https://shop.example/path", "*", "null", "shop.example"])
def test_create_store_refuses_what_is_not_an_origin(db, capsys, origin):
    assert main(["create-store", "Shop", "--origin", origin]) == 2
    error = capsys.readouterr().err
    assert "--origin" in error and "scheme and host only" in error


def test_create_store_keeps_origins_as_browsers_send_them(db, capsys):
    args = ["--origin", "HTTPS://Shop.Example:443/", "--origin", "https://shop.example"]
    assert main(["create-store", "Shop", *args, "--origin", "http://localhost:8001"]) == 0
    row = one(db, "SELECT * FROM stores")
    assert json.loads(str(row["origins"])) == ["https://shop.example", "http://localhost:8001"]


def test_create_admin_hashes_the_password_with_a_kdf(db, capsys):
    assert main(["create-admin", "Owner@Shop.Example", "--password", "correct horse"]) == 0
    row = one(db, "SELECT * FROM admins")
    assert row["email"] == "owner@shop.example"
    assert str(row["password_hash"]).startswith("scrypt$")
    assert keys.verify_password("correct horse", str(row["password_hash"]))
    assert not keys.verify_password("wrong", str(row["password_hash"]))


def test_create_admin_refuses_a_short_password(db, capsys):
    assert main(["create-admin", "a@b.example", "--password", "short"]) == 2
    assert "8 characters" in capsys.readouterr().err


def test_migrate_twice_is_a_no_op(empty_db, capsys):
    assert main(["migrate"]) == 0
    assert "applied migrations [1, " in capsys.readouterr().out
    assert main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out


@pytest.mark.parametrize("environment", ["development", "production"])
def test_a_placeholder_secret_is_refused_in_every_environment(db, monkeypatch, capsys, environment):
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("SECRET_KEY", "dev")
    assert main(["migrate"]) == 2
    assert "SECRET_KEY" in capsys.readouterr().err


def test_no_secret_key_is_no_error(db, monkeypatch, capsys):
    """The collector generates one (and keeps it in the database) when it first starts."""
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    assert main(["migrate"]) == 0


def grants(url: str) -> set[tuple[str, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                (row.email, row.name)
                for row in conn.execute(
                    text(
                        "SELECT admins.email, stores.name FROM admin_stores "
                        "JOIN admins ON admins.id = admin_stores.admin_id "
                        "JOIN stores ON stores.id = admin_stores.store_id"
                    )
                )
            }
    finally:
        engine.dispose()


def new_store(name: str, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    capsys.readouterr()
    assert main(["create-store", name, "--json", *extra]) == 0
    return str(json.loads(capsys.readouterr().out)["public_key"])


def test_create_admin_with_store_grants_only_those_stores(db, capsys):
    first = new_store("First", capsys)
    new_store("Second", capsys)
    assert (
        main(["create-admin", "a@shop.example", "--password", "long enough", "--store", first]) == 0
    )
    assert "stores: First" in capsys.readouterr().out
    assert grants(db) == {("a@shop.example", "First")}


def test_create_admin_without_store_grants_every_store_there_is_now(db, capsys):
    new_store("First", capsys)
    new_store("Second", capsys)
    assert main(["create-admin", "a@shop.example", "--password", "long enough"]) == 0
    new_store("Later", capsys)
    assert grants(db) == {("a@shop.example", "First"), ("a@shop.example", "Second")}


def test_create_admin_help_says_what_no_store_means(capsys):
    with pytest.raises(SystemExit):
        main(["create-admin", "--help"])
    assert "every store that exists now" in " ".join(capsys.readouterr().out.split())


def test_create_admin_refuses_an_unknown_store_and_adds_nobody(db, capsys):
    assert (
        main(["create-admin", "a@shop.example", "--password", "long enough", "--store", "pk_no"])
        == 2
    )
    assert "no store with public key 'pk_no'" in capsys.readouterr().err
    assert one(db, "SELECT count(*) AS n FROM admins")["n"] == 0


def test_create_store_with_admin_grants_it(db, capsys):
    assert main(["create-admin", "A@Shop.example", "--password", "long enough"]) == 0
    assert main(["create-admin", "b@shop.example", "--password", "long enough"]) == 0
    new_store("Mine", capsys, "--admin", "a@shop.example")
    assert grants(db) == {("a@shop.example", "Mine")}


def test_create_store_refuses_an_unknown_admin_and_adds_no_store(db, capsys):
    assert main(["create-store", "Shop", "--admin", "nobody@shop.example"]) == 2
    assert "no admin 'nobody@shop.example'" in capsys.readouterr().err
    assert one(db, "SELECT count(*) AS n FROM stores")["n"] == 0
