"""clerk.js size as served: raw, gzip -9 and brotli (where available) of the minified bytes.

The collector does not serve static/clerk.js as it is: collector/script.py's Script
minifies it (rjsmin) when it loads the file and gzips that once per version. So the
bytes are taken from a Script of the collector's own, not recomputed here; the
source's size is reported beside them for what the minifier strips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .procs import ROOT

SCRIPT = ROOT / "static" / "clerk.js"
BUDGET = 4096  # bytes, gzipped (DESIGN.md: at most 4 KB gzipped)


def measure(path: Path = SCRIPT) -> dict[str, Any]:
    from collector.script import Script

    # What GET /clerk.js answers: `raw` without Accept-Encoding, `gzipped` with gzip.
    served = Script(path, max_age=0).current()
    gz = len(served.gzipped)
    result: dict[str, Any] = {
        "path": str(path.relative_to(ROOT)),
        "source": path.stat().st_size,
        "raw": len(served.raw),
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
        result["brotli"] = len(brotli.compress(served.raw, quality=11))
    return result
