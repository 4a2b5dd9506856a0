"""Cookieless visitor derivation: stable within a period, unlinkable across, salts destroyed."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from collector.services import Services

from .factories import Clock, rows


def derive(
    services: Services, ip: str = "198.51.100.7", ua: str = "Browser/1", key: str = "pk_a"
) -> str:
    return anyio.run(lambda: services.visitors.derive(store_key=key, ip=ip, user_agent=ua))


def test_same_browser_same_day_gets_the_same_id(services: Services, clock: Clock):
    first = derive(services)
    clock.advance(3600 * 5)
    assert derive(services) == first


def test_next_period_gives_a_different_id_and_old_salts_are_gone(services, clock):
    before = derive(services)
    [old_salt] = rows(services, "salts")
    clock.advance(86_400)
    after = derive(services)
    assert after != before
    salts = rows(services, "salts")
    assert len(salts) == 1 and salts[0]["period"] == old_salt["period"] + 1
    assert salts[0]["salt"] != old_salt["salt"]


def test_a_fresh_process_derives_the_same_id_from_the_stored_salt(services, settings, clock):
    first = derive(services)
    other = Services(settings, clock=clock)  # a second collector process on the same database
    try:
        assert derive(other) == first
    finally:
        other.storage.dispose()


def test_ip_user_agent_and_store_each_change_the_id(services):
    base = derive(services)
    assert derive(services, ip="198.51.100.8") != base
    assert derive(services, ua="Browser/2") != base
    assert derive(services, key="pk_b") != base


def test_rotation_period_is_a_setting(services, settings, clock):
    from dataclasses import replace

    weekly = Services(replace(settings, salt_rotation_days=7), clock=clock)
    try:
        clock.now = 7 * 86_400 * 3000 + 3600  # an hour into a weekly period
        first = derive(weekly)
        clock.advance(3 * 86_400)
        assert derive(weekly) == first
        clock.advance(7 * 86_400)
        assert derive(weekly) != first
    finally:
        weekly.storage.dispose()


def test_null_and_explicit_ids_derive_nothing(services):
    async def resolve(sent):
        return await services.visitors.resolve(
            sent=sent, session="s", store_key="k", ip="1.2.3.4", user_agent="UA"
        )

    none = anyio.run(resolve, None)
    assert (none.mode, none.id, none.session) == ("none", None, None)
    explicit = anyio.run(resolve, "shop-id-1")
    assert (explicit.mode, explicit.id) == ("persistent", "shop-id-1")
    assert rows(services, "salts") == []  # no hashing happened at all


def test_expired_salts_are_destroyed_even_without_traffic(services, clock):
    derive(services)
    assert anyio.run(services.visitors.destroy_expired) == 0  # still in its period
    clock.advance(86_400)
    assert anyio.run(services.visitors.destroy_expired) == 1
    assert rows(services, "salts") == []


def database_bytes(settings) -> bytes:
    """The SQLite database file and its write-ahead log, as they are on disk."""
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.mark.parametrize("destroyed_by", ["janitor", "next visitor"])
def test_a_destroyed_salt_leaves_no_bytes_in_the_database_file_or_its_wal(
    client, services, settings, store, clock, destroyed_by
):
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("the files of SQLite")
    auto = {"key": store.public_key, "product": "1"}  # no visitor: cookieless
    assert client.post("/v2/log/product", json=auto).status_code == 200
    [salt] = rows(services, "salts")
    old = salt["salt"].encode()
    assert old in database_bytes(settings)  # so that its absence below means something

    clock.advance(86_400)
    if destroyed_by == "next visitor":  # the new period's salt is made, the old one deleted
        assert client.post("/v2/log/product", json=auto).status_code == 200
    # The app's housekeeping (every minute) runs this, while requests are served.
    destroyed = client.portal.call(services.visitors.destroy_expired)
    assert destroyed == (1 if destroyed_by == "janitor" else 0)
    assert old.decode() not in json.dumps(rows(services, "salts"))
    assert client.post("/v2/log/product", json=auto).status_code == 200  # serving goes on
    data = database_bytes(settings)
    assert old not in data and bytes.fromhex(old.decode()) not in data
