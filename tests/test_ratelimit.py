"""Request rate limits: per client (its address after the proxy rule) and per store."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from collector.app import create_app
from collector.ratelimit import RateLimits
from collector.services import Services
from collector.settings import RATE_LIMIT_CLIENT, RATE_LIMIT_STORE, ConfigError, Settings

from .factories import Clock, StoreKeys, make_store


@pytest.fixture
def limited(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Services]:
    """Services with small limits: (RATE_LIMIT_CLIENT, RATE_LIMIT_STORE) from the test."""
    client_rate, store_rate = request.param
    small = dataclasses.replace(
        settings, rate_limit_client=client_rate, rate_limit_store=store_rate
    )
    services = Services(small, clock=Clock())
    services.storage.migrate()
    start_in_a_fresh_window()
    yield services
    services.storage.dispose()


# The windows the limits count in are whole minutes of the clock. A test that crossed
# into the next one would see its calls so far weigh less (three calls near the end of the
# last minute count as two and a bit, and a fourth is let through): it starts with at
# least this many seconds of its minute left, far more than any of these tests takes.
WINDOW_LEFT = 10.0


def start_in_a_fresh_window() -> None:
    left = 60.0 - time.time() % 60.0
    if left < WINDOW_LEFT:
        time.sleep(left + 0.01)


def view(http: TestClient, key: str, address: str) -> tuple[int, dict[str, str], dict]:
    """A log/product call from `address`, as a trusted proxy (127.0.0.1) forwards it."""
    answer = http.post(
        "/v2/log/product",
        json={"key": key, "visitor": "v1", "product": "1"},
        headers={"x-forwarded-for": address},
    )
    return answer.status_code, dict(answer.headers), answer.json()


def app_client(services: Services, peer: str = "127.0.0.1") -> TestClient:
    return TestClient(create_app(services.settings, services=services), client=(peer, 50000))


@pytest.mark.parametrize("limited", [("3/minute", "0")], indirect=True)
def test_a_client_past_its_limit_gets_429_with_retry_after_and_others_are_served(
    limited: Services,
):
    store = make_store(limited)
    with app_client(limited) as http:
        assert [view(http, store.public_key, "198.51.100.7")[0] for _ in range(3)] == [200] * 3
        status, headers, body = view(http, store.public_key, "198.51.100.7")
        assert status == 429
        assert body["status"] == "error" and body["type"] == "rate_limited"
        assert "client" in body["message"]
        assert 1 <= int(headers["retry-after"]) <= 60
        # Another address is another client; the same /64 of IPv6 is the same one.
        assert view(http, store.public_key, "198.51.100.8")[0] == 200
        assert [view(http, store.public_key, f"2001:db8::{i}")[0] for i in range(4)] == [
            *[200] * 3,
            429,
        ]
        assert view(http, store.public_key, "2001:db8:0:1::1")[0] == 200
        # Counted before the body is read: a malformed call past the limit is a 429 too.
        bad = http.post(
            "/v2/log/product", content=b"{not json", headers={"x-forwarded-for": "198.51.100.7"}
        )
        assert bad.status_code == 429


@pytest.mark.parametrize("limited", [("3/minute", "0")], indirect=True)
def test_an_untrusted_peer_cannot_pick_its_address_to_pass_the_limit(limited: Services):
    store = make_store(limited)
    with app_client(limited, peer="203.0.113.9") as http:
        statuses = [view(http, store.public_key, f"198.51.100.{i}")[0] for i in range(4)]
    assert statuses == [200, 200, 200, 429]


@pytest.mark.parametrize("limited", [("0", "4/minute")], indirect=True)
def test_a_store_past_its_limit_gets_429_and_another_store_is_served(limited: Services):
    busy, other = make_store(limited, "Busy"), make_store(limited, "Other")
    with app_client(limited) as http:
        statuses = [view(http, busy.public_key, f"198.51.100.{i}")[0] for i in range(5)]
        assert statuses == [200] * 4 + [429]
        status, headers, body = view(http, busy.public_key, "198.51.100.99")
        assert (status, body["type"]) == (429, "rate_limited") and "store" in body["message"]
        assert 1 <= int(headers["retry-after"]) <= 60
        assert view(http, other.public_key, "198.51.100.1")[0] == 200


@pytest.mark.parametrize("limited", [("5/minute", "0")], indirect=True)
def test_every_v2_endpoint_is_limited(limited: Services):
    store = make_store(limited)
    calls = [
        ("/v2/recommendations/popular", {}),
        ("/v2/search/predictive", {"query": "la"}),
        ("/v2/log/click", {"product": "1"}),
        ("/v2/stats/overview", {"private_key": store.private_key}),
        ("/v2/products", {"private_key": store.private_key, "products": []}),
    ]
    with app_client(limited) as http:
        for path, args in calls:
            answer = http.post(path, json={"key": store.public_key, **args})
            assert answer.status_code != 429, path
        for path, args in calls:
            answer = http.post(path, json={"key": store.public_key, **args})
            assert answer.status_code == 429, path


def test_the_client_key_is_an_hmac_under_a_key_of_this_process():
    first = RateLimits(client="1/minute", store="0")
    again = RateLimits(client="1/minute", store="0")
    key = first.client_key("198.51.100.7")
    assert "198.51.100.7" not in key and key == first.client_key("198.51.100.7")
    assert key != again.client_key("198.51.100.7")  # a new process, a new key


@pytest.mark.parametrize("name", ["RATE_LIMIT_CLIENT", "RATE_LIMIT_STORE"])
@pytest.mark.parametrize("value", ["lots", "12/fortnight", "0/minute", "-5/second"])
def test_a_bad_rate_setting_is_a_config_error_naming_it(name: str, value: str):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
    rates = {"client": "0", "store": "0", name.removeprefix("RATE_LIMIT_").lower(): value}
    with pytest.raises(ConfigError, match=name):
        RateLimits(**rates)


def test_rate_settings_default_and_disable():
    assert Settings.from_env({}).rate_limit_client == RATE_LIMIT_CLIENT
    assert Settings.from_env({}).rate_limit_store == RATE_LIMIT_STORE
    settings = Settings.from_env({"RATE_LIMIT_CLIENT": "0", "RATE_LIMIT_STORE": ""})
    limits = RateLimits(client=settings.rate_limit_client, store=settings.rate_limit_store)
    assert limits.client_limits == [] and limits.store_limits == []
    both = RateLimits(client="20/second; 1200/minute", store="100 per second")
    assert [str(i) for i in both.client_limits] == ["20 per 1 second", "1200 per 1 minute"]


def test_the_defaults_leave_a_busy_shared_address_alone(client: TestClient, store: StoreKeys):
    """The test suite's own clients use the defaults: 300 calls from one address at once
    (a page load of 200 shoppers behind one CGNAT address sends fewer) are all served."""
    statuses = {
        client.post("/v2/log/product", json={"key": store.public_key, "product": "1"}).status_code
        for _ in range(300)
    }
    assert statuses == {200}


def test_the_windows_count_as_the_limits_library_does(monkeypatch: pytest.MonkeyPatch):
    """SlidingWindows against limits' own sliding window counter, on one clock: the same
    hits let through and the same reset times, across windows and after a pause."""
    from limits import parse
    from limits.storage import MemoryStorage
    from limits.strategies import SlidingWindowCounterRateLimiter

    from collector.ratelimit import SlidingWindows

    now = [1_800_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    ours, theirs = SlidingWindows(), SlidingWindowCounterRateLimiter(MemoryStorage())
    item = parse("7/minute")
    steps = [0.5] * 10 + [20.0] * 6 + [7.3] * 12 + [130.0] + [1.1] * 9 + [59.0, 0.2, 0.2]
    outcomes = []
    for step in steps:
        now[0] += step
        for key in ("a", "b"):
            expected = theirs.get_window_stats(item, "client", key).reset_time
            assert ours.reset_time(item, "client", key) == pytest.approx(expected, rel=0, abs=1e-6)
            mine = ours.hit(item, "client", key)
            assert mine == theirs.hit(item, "client", key), (now[0], key)
            outcomes.append(mine)
            expected = theirs.get_window_stats(item, "client", key).reset_time
            assert ours.reset_time(item, "client", key) == pytest.approx(expected, rel=0, abs=1e-6)
    assert True in outcomes and False in outcomes
