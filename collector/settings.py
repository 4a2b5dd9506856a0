"""One settings object, read from the environment (then a .env file, then defaults)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev"}
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


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./clerk.db"
    environment: str = "development"
    secret_key: str = "dev"
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

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = {**_read_dotenv(Path(".env")), **(os.environ if environ is None else environ)}
        settings = cls(
            database_url=env.get("DATABASE_URL") or cls.database_url,
            environment=env.get("ENVIRONMENT", cls.environment),
            secret_key=env.get("SECRET_KEY", cls.secret_key),
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
        )
        settings.check()
        return settings

    def check(self) -> None:
        if self.environment != "development" and self.secret_key in PLACEHOLDER_SECRETS:
            raise ConfigError(
                "SECRET_KEY is unset or a placeholder; set a long random value "
                f"(ENVIRONMENT={self.environment!r} is not 'development')"
            )
