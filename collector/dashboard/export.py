"""CSV export of any dashboard table.

Cells that a spreadsheet would run as a formula (starting with = + - @, or a tab
or carriage return) get a leading single quote, so that an exported search query
or product name such as `=HYPERLINK(...)` stays text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.responses import Response

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_START) else text


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def value(raw: Any, kind: str = "text") -> str:
    """One cell: times in ISO 8601 (UTC), lists space-separated, text neutralised."""
    if raw is None:
        return ""
    if kind == "ms" and isinstance(raw, int | float):
        return _iso(int(raw))
    if isinstance(raw, list | tuple):
        raw = " ".join(str(item) for item in raw)
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return str(raw)
    return neutralise(str(raw))


def to_csv(
    rows: Iterable[dict[str, Any]], columns: Sequence[str], kinds: dict[str, str] | None = None
) -> str:
    """The rows as CSV, columns in the rows' own key order (`columns` when there are none)."""
    rows = list(rows)
    header = list(rows[0]) if rows else list(columns)
    kinds = kinds or {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(name) for name in header])
    for row in rows:
        writer.writerow([value(row.get(name), kinds.get(name, "text")) for name in header])
    return out.getvalue()


def filename(*parts: str) -> str:
    """A safe ASCII file name from its parts: shop-name-widgets-2026-05-01-2026-05-30.csv."""
    slugs = [re.sub(r"[^a-z0-9]+", "-", part.lower()).strip("-")[:40] for part in parts]
    return "-".join(slug for slug in slugs if slug) or "export"


def csv_response(body: str, name_parts: Sequence[str]) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename(*name_parts)}.csv"'},
    )
