"""The demo shop's settings, read from the environment in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


def _base_url(name: str, value: str) -> str:
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an http(s) URL, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    collector_url: str = "http://127.0.0.1:8000"
    public_key: str = ""
    shop_url: str = "http://localhost:8001"
    catalogue_size: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        size = env.get("DEMO_CATALOGUE_SIZE", str(cls.catalogue_size))
        if not size.isdigit() or int(size) < 1:
            raise ValueError(f"DEMO_CATALOGUE_SIZE must be a positive integer, got {size!r}")
        return cls(
            collector_url=_base_url(
                "DEMO_COLLECTOR_URL", env.get("DEMO_COLLECTOR_URL", cls.collector_url)
            ),
            public_key=env.get("DEMO_PUBLIC_KEY", cls.public_key).strip(),
            shop_url=_base_url("DEMO_SHOP_URL", env.get("DEMO_SHOP_URL", cls.shop_url)),
            catalogue_size=int(size),
        )
