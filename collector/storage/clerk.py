"""What counts as Clerk's: the apis of its widgets and search results, and the source
(recommendations or search) an api's credit goes to. Shared by attribution.py, the
roll-ups (rollups.py) and the orders' roll-ups (order_rollups.py), which import no
more than this from each other."""

from __future__ import annotations

CLERK_APIS = ("recommendations/", "search/")


def source_of(api: str) -> str:
    return "search" if api.startswith("search/") else "recommendations"


def is_clerk(api: str | None) -> bool:
    return bool(api) and str(api).startswith(CLERK_APIS)
