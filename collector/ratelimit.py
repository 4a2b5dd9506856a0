"""Request rate limits of the /v2 API: per client and per store, in this process's memory.

Counted with the `limits` library's sliding window counter (two counters per key, so
memory stays small however high the rate), as its in-memory storage counts it: each process
counts its own requests, so with N workers a client or a store may send up to N times
the rate. A request past a limit answers 429 `rate_limited` with `Retry-After` (whole
seconds until the window lets one more through). The client limit is checked before
the body is read (cheap), the store limit once the key has named the store.

The client is its address after the trusted-proxy rule (`request.client.host`, set by
uvicorn's proxy headers middleware from FORWARDED_ALLOW_IPS), an IPv6 address taken
as its /64 (one subscriber's network: one host can use any address in it), and known
to the limiter only as an HMAC under a random key made when the process starts and
never stored or logged: the counters cannot be turned back into addresses.

The limits are parsed by `limits`, and counted here (SlidingWindows) with its
arithmetic: its strategy and in-memory storage, through their layers of wrappers, per-key
locks and an expiry timer that starts a thread every 10 ms under load, cost a tracking
call more than its validation and its visitor together (measured; docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
import threading
import time

from limits import RateLimitItem
from starlette.requests import Request
from starlette.responses import JSONResponse

from . import metrics
from .errors import ApiError, error_response
from .settings import rate_limits


class SlidingWindows:
    """limits' sliding window counter (SlidingWindowCounterRateLimiter over MemoryStorage),
    with its arithmetic: time is cut in windows of the limit's length; a hit is let
    through when the current window's count plus the previous window's, weighted by the
    share of it still inside the sliding window, stays within the limit. A key's counts
    are dropped once both of its windows are over (looked at most once a second)."""

    SWEEP_EVERY = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (kind, key, amount, window seconds) -> (window number, its count, the previous
        # window's count)
        self._counts: dict[tuple[str, str, int, int], tuple[int, int, int]] = {}
        self._sweep_at = 0.0

    def _windows(self, name: tuple[str, str, int, int], expiry: int, now: float) -> tuple[int, int]:
        """This window's count and the previous one's, at `now`."""
        window = int(now / expiry)
        found = self._counts.get(name)
        if found is None:
            return 0, 0
        number, count, previous = found
        if number == window:
            return count, previous
        if number == window - 1:
            return 0, count
        return 0, 0

    @staticmethod
    def _previous_ttl(previous: int, expiry: int, now: float) -> float:
        return 0.0 if previous == 0 else (1 - (((now - expiry) / expiry) % 1)) * expiry

    def hit(self, item: RateLimitItem, kind: str, key: str) -> bool:
        expiry, now = item.get_expiry(), time.time()
        name = (kind, key, item.amount, expiry)
        with self._lock:
            if now >= self._sweep_at:
                self._sweep(now)
            count, previous = self._windows(name, expiry, now)
            weighted = previous * self._previous_ttl(previous, expiry, now) / expiry + count
            if math.floor(weighted) + 1 > item.amount:
                return False
            self._counts[name] = (int(now / expiry), count + 1, previous)
            return True

    def reset_time(self, item: RateLimitItem, kind: str, key: str) -> float:
        """When the limit lets one more hit through (as limits' get_window_stats says)."""
        expiry, now = item.get_expiry(), time.time()
        with self._lock:
            count, previous = self._windows((kind, key, item.amount, expiry), expiry, now)
        if not (count or previous):
            return now
        previous_reset_in = current_reset_in = math.inf
        if previous:
            previous_reset_in = self._previous_ttl(previous, expiry, now) % (expiry / previous)
        if count:
            current_reset_in = ((1 - ((now / expiry) % 1)) * expiry + expiry) % expiry
        return now + min(previous_reset_in, current_reset_in)

    def _sweep(self, now: float) -> None:
        self._sweep_at = now + self.SWEEP_EVERY
        over = [
            name for name, (number, _, _) in self._counts.items() if number < int(now / name[3]) - 1
        ]
        for name in over:
            del self._counts[name]


class RateLimited(ApiError):
    """429, with the seconds to wait in `Retry-After`."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(429, "rate_limited", message)
        self.retry_after = retry_after

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        headers = {**(headers or {}), "Retry-After": str(self.retry_after)}
        return error_response(self.status, self.type, self.message, headers)


class RateLimits:
    """The per-client and per-store limits of one process (settings RATE_LIMIT_CLIENT
    and RATE_LIMIT_STORE; a ConfigError names a bad one)."""

    def __init__(self, *, client: str, store: str) -> None:
        self.client_limits = rate_limits("RATE_LIMIT_CLIENT", client)
        self.store_limits = rate_limits("RATE_LIMIT_STORE", store)
        self._secret = secrets.token_bytes(32)  # this process's only: never stored or logged
        self._limiter: SlidingWindows | None = None
        if self.client_limits or self.store_limits:
            self._limiter = SlidingWindows()

    def check_client(self, request: Request) -> None:
        """Count a request of this client; RateLimited past the client limit."""
        if self.client_limits:
            address = request.client.host if request.client else ""
            self._hit(self.client_limits, "client", self.client_key(address), "from this client")

    def check_store(self, store_id: int) -> None:
        """Count a request for this store; RateLimited past the store limit."""
        if self.store_limits:
            self._hit(self.store_limits, "store", str(store_id), "for this store")

    def client_key(self, address: str) -> str:
        mac = hmac.new(self._secret, _network(address).encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def _hit(self, items: list[RateLimitItem], kind: str, key: str, whose: str) -> None:
        assert self._limiter is not None
        for item in items:
            if not self._limiter.hit(item, kind, key):
                metrics.RATE_LIMITED.labels(kind).inc()
                reset_time = self._limiter.reset_time(item, kind, key)
                wait = max(1, math.ceil(reset_time - time.time()))
                raise RateLimited(
                    f"too many requests {whose} (more than {item}); try again in {wait} s",
                    wait,
                )


def _network(address: str) -> str:
    """The address, or its /64 for IPv6 (an IPv4 address mapped into IPv6 as itself)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
