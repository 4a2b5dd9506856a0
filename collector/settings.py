"""One settings object, read from the environment (then a .env file, then defaults)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

from limits import RateLimitItem, parse_many

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev"}
MIN_SECRET = 32
DEFAULT_SCRIPT = Path(__file__).resolve().parent.parent / "static" / "clerk.js"


class ConfigError(ValueError):
    """A setting has a value the collector cannot run with."""


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip().strip("'\"")
    return values


def _int(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {value}")
    return value


def rate_limits(name: str, value: str) -> list[RateLimitItem]:
    """The limits a RATE_LIMIT_* setting names, in the `limits` library's notation
    ("1200/minute", several joined by ";"); "" or "0": none. ConfigError names the
    setting."""
    value = value.strip()
    if value in ("", "0"):
        return []
    try:
        items = parse_many(value)
    except ValueError:
        raise ConfigError(
            f'{name} must be a rate such as "1200/minute" ("0" for no limit), not {value!r}'
        ) from None
    if any(item.amount < 1 for item in items):
        raise ConfigError(f'{name}: a rate of 0 refuses everything; use "0" for no limit')
    return items


# Default request rates, per process (each worker counts its own requests). A shopper's
# page load makes a handful of calls (a view, two or three widgets, the predictive box
# as they type: a busy shopper sends about one a second), and many shoppers can share
# one address behind a NAT or a carrier's CGNAT: 12,000 a minute from one address is
# 200 such shoppers of one collector at the same moment. A big shop's peak is thousands
# of calls a second, and one process serves about 5,000 a second (docs/benchmarks.md):
# 600,000 a minute per store and process is more than a process can serve, so a real
# shop never meets it; an operator hosting many stores may set it lower.
RATE_LIMIT_CLIENT = "12000/minute"
RATE_LIMIT_STORE = "600000/minute"


LOG_FORMATS = ("text", "json")


def allowed_networks(name: str, values: list[str]) -> list[IPv4Network | IPv6Network] | None:
    """The networks a *_ALLOW_IPS setting lists (addresses or CIDR networks); None for
    "*" (anyone). ConfigError names the setting and the entry it cannot read."""
    if "*" in values:
        return None
    networks: list[IPv4Network | IPv6Network] = []
    for value in values:
        try:
            networks.append(ip_network(value, strict=False))
        except ValueError:
            raise ConfigError(
                f'{name} must list IP addresses or networks (or "*"), not {value!r}'
            ) from None
    return networks


def _scheme(url: str) -> str:
    """The URL's database ("postgresql" of "postgresql+psycopg://..."); "" if not a URL."""
    scheme, found, _ = url.partition("://")
    return scheme.partition("+")[0].lower() if found else ""


def check_replica_url(database_url: str, replica_url: str) -> None:
    """DATABASE_REPLICA_URL: none, or a PostgreSQL server when DATABASE_URL is one (a
    streaming replica is a PostgreSQL feature; SQLite has none)."""
    if not replica_url:
        return
    postgres = ("postgres", "postgresql")
    scheme = _scheme(replica_url)
    if scheme not in postgres:
        given = f"a {scheme}:// URL" if scheme else "something that is not a URL"
        raise ConfigError(
            "DATABASE_REPLICA_URL must be a postgresql:// URL (a streaming replica of the "
            f"PostgreSQL server of DATABASE_URL), not {given}"
        )
    if _scheme(database_url) not in postgres:
        raise ConfigError(
            "DATABASE_REPLICA_URL is set but DATABASE_URL is not PostgreSQL: a read replica "
            "needs a PostgreSQL primary; unset DATABASE_REPLICA_URL"
        )


def _flag(env: dict[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw not in ("", "0", "1", "false", "true", "no", "yes", "off", "on"):
        raise ConfigError(f"{name} must be 1 or 0, not {raw!r}")
    return raw in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./clerk.db"
    # A PostgreSQL streaming replica of DATABASE_URL for the reads that may be a little
    # stale (reports, stats, store-wide rankings: docs/ARCHITECTURE.md); "" for none.
    database_replica_url: str = ""
    # Replica reads go to the primary while the replica is more than this many seconds
    # behind (or not streaming).
    replica_max_lag_seconds: int = 30
    # Signs dashboard sessions and keys the sign-in throttle. Unset (""), the collector
    # generates one and keeps it in the database (Services.secret_key).
    secret_key: str = ""
    # Cookieless visitor salts rotate every this many days (1..30) and are then destroyed.
    salt_rotation_days: int = 1
    # Peers whose X-Forwarded-For is believed, as uvicorn's --forwarded-allow-ips.
    forwarded_allow_ips: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    max_body_bytes: int = 65536
    attribution_window_days: int = 30
    retention_days: int = 396
    batch_max_size: int = 512
    # Seconds a request waits for a database connection before answering 503.
    database_pool_timeout: int = 30
    script_path: Path = DEFAULT_SCRIPT
    script_max_age: int = 3600
    # Store-wide rankings (popular, trending) are recomputed at most this often.
    recommendation_cache_seconds: int = 60
    # Requests per client address (RATE_LIMIT_CLIENT) and per store (RATE_LIMIT_STORE),
    # counted per process; "" or "0": no limit. See rate_limits().
    rate_limit_client: str = RATE_LIMIT_CLIENT
    rate_limit_store: str = RATE_LIMIT_STORE
    # ACCESS_LOG=1: one line per request (method, endpoint path, status, duration; see
    # access_log.py). Off by default: the collector logs no requests at all.
    access_log: bool = False
    # METRICS=1: /metrics in Prometheus text (metrics.py). On the app's own port unless
    # METRICS_PORT names another (served by `serve` on METRICS_HOST, loopback by default).
    # On the app's port only clients in METRICS_ALLOW_IPS may read it: the figures tell
    # a shop's traffic.
    metrics: bool = False
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    metrics_allow_ips: list[str] = field(default_factory=lambda: ["127.0.0.1", "::1"])
    # LOG_FORMAT: "text" (one line per record) or "json" (one JSON object per line).
    log_format: str = "text"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = {**_read_dotenv(Path(".env")), **(os.environ if environ is None else environ)}
        settings = cls(
            database_url=env.get("DATABASE_URL") or cls.database_url,
            database_replica_url=env.get("DATABASE_REPLICA_URL", "").strip(),
            replica_max_lag_seconds=_int(env, "REPLICA_MAX_LAG_SECONDS", 30, 1, 86_400),
            secret_key=env.get("SECRET_KEY", "").strip(),
            salt_rotation_days=_int(env, "SALT_ROTATION_DAYS", 1, 1, 30),
            forwarded_allow_ips=[
                ip.strip()
                for ip in env.get("FORWARDED_ALLOW_IPS", "127.0.0.1").split(",")
                if ip.strip()
            ],
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 65536, 1024, 10 * 1024 * 1024),
            attribution_window_days=_int(env, "ATTRIBUTION_WINDOW_DAYS", 30, 1, 365),
            retention_days=_int(env, "RETENTION_DAYS", 396, 1, 3650),
            batch_max_size=_int(env, "BATCH_MAX_SIZE", 512, 1, 100000),
            database_pool_timeout=_int(env, "DATABASE_POOL_TIMEOUT", 30, 1, 600),
            script_path=Path(env.get("CLERK_JS_PATH") or DEFAULT_SCRIPT),
            script_max_age=_int(env, "CLERK_JS_MAX_AGE", 3600, 0, 31536000),
            recommendation_cache_seconds=_int(env, "RECOMMENDATION_CACHE_SECONDS", 60, 0, 86400),
            rate_limit_client=env.get("RATE_LIMIT_CLIENT", RATE_LIMIT_CLIENT),
            rate_limit_store=env.get("RATE_LIMIT_STORE", RATE_LIMIT_STORE),
            access_log=_flag(env, "ACCESS_LOG"),
            metrics=_flag(env, "METRICS"),
            metrics_port=_int(env, "METRICS_PORT", 0, 0, 65535),
            metrics_host=env.get("METRICS_HOST", "").strip() or "127.0.0.1",
            metrics_allow_ips=[
                ip.strip()
                for ip in env.get("METRICS_ALLOW_IPS", "127.0.0.1,::1").split(",")
                if ip.strip()
            ],
            log_format=env.get("LOG_FORMAT", "").strip().lower() or "text",
        )
        settings.check()
        return settings

    def check(self) -> None:
        check_replica_url(self.database_url, self.database_replica_url)
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"LOG_FORMAT must be text or json, not {self.log_format!r}")
        if self.metrics_port and not self.metrics:
            raise ConfigError("METRICS_PORT is set but METRICS is off; set METRICS=1 as well")
        allowed_networks("METRICS_ALLOW_IPS", self.metrics_allow_ips)
        rate_limits("RATE_LIMIT_CLIENT", self.rate_limit_client)
        rate_limits("RATE_LIMIT_STORE", self.rate_limit_store)
        # In every environment: a known or short key lets anyone sign a session cookie.
        key = self.secret_key
        if key and (key.strip().lower() in PLACEHOLDER_SECRETS or len(key) < MIN_SECRET):
            raise ConfigError(
                f"SECRET_KEY is a placeholder or shorter than {MIN_SECRET} characters; set "
                f"at least {MIN_SECRET} random characters (python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'), or unset it and the collector "
                "generates one and keeps it in its database"
            )
