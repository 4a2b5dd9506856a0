"""SECRET_KEY: a placeholder or a short key is refused in every environment; unset, one is
generated and kept in the database, the same for every collector process."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from collector.services import Services
from collector.settings import PLACEHOLDER_SECRETS, ConfigError, Settings

from .factories import Clock, rows

LONG_ENOUGH = "k" * 32


@pytest.mark.parametrize("environment", ["development", "production"])
@pytest.mark.parametrize("key", ["dev", "change-me", "secret", "short but not empty"])
def test_a_placeholder_or_short_secret_key_is_refused_in_every_environment(environment, key):
    with pytest.raises(ConfigError, match="SECRET_KEY") as refused:
        Settings.from_env({"SECRET_KEY": key, "ENVIRONMENT": environment})
    assert "32" in str(refused.value)  # it says what would do


def test_unset_secret_key_is_fine_in_every_environment():
    for environment in ("development", "production"):
        assert Settings.from_env({"ENVIRONMENT": environment}).secret_key == ""
    assert Settings.from_env({"SECRET_KEY": LONG_ENOUGH}).secret_key == LONG_ENOUGH


def test_unset_a_key_is_generated_once_and_every_process_uses_it(settings: Settings, clock):
    processes = [Services(settings, clock=clock) for _ in range(4)]
    try:
        processes[0].storage.migrate()
        keys: list[str] = []
        # Several processes start at once on a new database: one insert wins, all read it.
        threads = [
            threading.Thread(target=lambda s=s: keys.append(s.secret_key)) for s in processes
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(keys) == 4 and len(set(keys)) == 1
        [key] = set(keys)
        assert len(key) >= 43 and key not in PLACEHOLDER_SECRETS
        assert [row["value"] for row in rows(processes[0], "app_secrets")] == [key]
        later = Services(settings, clock=clock)  # a restart keeps it: sessions survive
        try:
            assert later.secret_key == key
        finally:
            later.storage.dispose()
    finally:
        for services in processes:
            services.storage.dispose()


def test_a_configured_key_is_used_and_nothing_is_stored(settings: Settings, clock: Clock):
    services = Services(replace(settings, secret_key=LONG_ENOUGH), clock=clock)
    try:
        services.storage.migrate()
        assert services.secret_key == LONG_ENOUGH
        assert rows(services, "app_secrets") == []
    finally:
        services.storage.dispose()
