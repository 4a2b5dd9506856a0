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
    assert set(printed) == {"public_key", "private_key"}
    row = one(db, "SELECT * FROM stores")
    assert row["public_key"] == printed["public_key"]
    assert row["private_key_hash"] == keys.hash_private_key(printed["private_key"])
    assert printed["private_key"] not in json.dumps(row, default=str)
    assert json.loads(str(row["origins"])) == ["https://shop.example"]


def test_create_store_refuses_an_origin_with_a_path(db, capsys):
    assert main(["create-store", "Shop", "--origin", "https://shop.example/path"]) == 2
    assert "--origin" in capsys.readouterr().err


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


def test_migrate_twice_is_a_no_op(db, capsys):
    assert main(["migrate"]) == 0
    assert "applied migrations [1, " in capsys.readouterr().out
    assert main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_placeholder_secret_is_refused_outside_development(db, monkeypatch, capsys):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    assert main(["migrate"]) == 2
    assert "SECRET_KEY" in capsys.readouterr().err
