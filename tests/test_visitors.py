"""Cookieless visitor derivation: stable within a period, unlinkable across, salts destroyed."""

from __future__ import annotations

import anyio

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
