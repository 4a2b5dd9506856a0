"""clerk.js size: raw, gzip -9 (as the collector serves it) and brotli where available."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from .procs import ROOT

SCRIPT = ROOT / "static" / "clerk.js"
BUDGET = 4096  # bytes, gzipped (DESIGN.md: at most 4 KB gzipped)


def measure(path: Path = SCRIPT) -> dict[str, Any]:
    raw = path.read_bytes()
    # The same call collector/script.py makes, so these are the bytes it serves.
    gz = len(gzip.compress(raw, compresslevel=9, mtime=0))
    result: dict[str, Any] = {
        "path": str(path.relative_to(ROOT)),
        "raw": len(raw),
        "gzip9": gz,
        "budget_gzip": BUDGET,
        "within_budget": gz <= BUDGET,
    }
    try:
        import brotli
    except ImportError:
        result["brotli"] = None
        result["brotli_note"] = "the brotli Python module is not installed: not measured"
    else:
        result["brotli"] = len(brotli.compress(raw, quality=11))
    return result
