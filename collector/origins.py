"""Who may call what from where: the origin rule of every browser-facing /v2 endpoint.

Why a rule is needed at all: the public key is in every page's source, and in `auto`
mode the shopper's identity is ambient (their address and User-Agent), so any page the
shopper opens can make their browser call the collector *as them*. The collector treats
personal answers as a bank treats cookies.

Personal calls are declared by their endpoint (`endpoint(..., personal=True)`): those
whose answer reveals a visitor's data (`recommendations/visitor/*`, anything answering a
basket) or that change it (`log/visitor`, `log/basket/*`, `privacy/forget` with the public
key only; with the store's private key a call is the shop's server's, which no page holds).

The rule, once the endpoint knows the store (`check`):

- A request with an `Origin` header comes from a page (browsers send it on every CORS
  request and on every POST, even a form's or sendBeacon's). A personal call is served
  only when that origin is on the store's list; a store without a list refuses personal
  calls from every page with 403 and a message that says how to add the origin. A
  non-personal call (events, store-wide recommendations, search) is served to a listed
  origin, or to any origin when the store has no list. `Origin: null` (sandboxed frames,
  cross-origin redirects) is never on a list: origins are validated by `parse_origin`.
- A request without `Origin` is a GET from an `<img>`, `<script>`, link or form of some
  page, or not from a browser at all (a shop's server, curl). Browsers since 2020 say
  which in `Sec-Fetch-Site`: `cross-site` or `same-site` means another page made it, so a
  personal call is refused; `none` (the shopper typed the address) and `same-origin` are
  served. Without either header the caller is a server or an old browser: in `auto` mode
  a server reaches only its own cookieless id, an explicit id is a bearer id the caller
  already holds, and an old browser's cross-site GET cannot read the answer (no CORS
  grant) and cannot change anything, because:
- Calls that change a visitor's data are POST only (their routes take no GET), so the
  one kind of cross-site request that carries no `Origin`, a GET, can never change a
  visitor. Finding 2 of issue 9 was `<img src=".../log/visitor?...&visitor=atk123">`.

CORS (collector/middleware.py) then echoes only what was granted here: the caller's
origin, with `Vary: Origin`, never `*` and never credentials. Error answers are readable by
the page that caused them (they hold no visitor data, and a shop must be able to read why
it was refused); a refused personal answer is never computed at all.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import Scope

from .errors import ApiError
from .storage.stores import Store

# Where the endpoint leaves the origin it granted, for the CORS middleware to echo.
GRANT = "collector.cors_origin"
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_ORIGIN = 200
OTHER_PAGES = ("cross-site", "same-site")


def parse_origin(raw: str) -> str:
    """An origin as browsers send it in `Origin` (scheme, lower-case host, port only when not
    the default); ValueError saying what is wrong. One validator for the CLI and dashboard."""
    problem = f"“{raw}” is not an origin: give scheme and host only, e.g. https://shop.example"
    text = raw.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise ValueError(problem) from None
    scheme = parts.scheme.lower()
    if (
        scheme not in DEFAULT_PORTS
        or not host
        or parts.path
        or parts.query
        or parts.fragment
        or "?" in text
        or "#" in text
        or parts.username is not None
        or any(c.isspace() or c in "\"'<>\\*" for c in text)
    ):
        raise ValueError(problem)
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    origin = f"{scheme}://{host}" + ("" if port in (None, DEFAULT_PORTS[scheme]) else f":{port}")
    if len(origin) > MAX_ORIGIN:
        raise ValueError(problem)
    return origin


def check(request: Request, store: Store, *, personal: bool) -> None:
    """Serve the call or raise 403, per the rule above; a served page's origin is granted."""
    origin = request.headers.get("origin")
    if origin is None:
        fetch_site = request.headers.get("sec-fetch-site")
        if personal and fetch_site in OTHER_PAGES:
            raise ApiError(
                403,
                "origin_not_allowed",
                "this call reveals or changes a visitor's data: a page of another site "
                "may not make it",
            )
        return
    if origin in store.origins:
        request.scope[GRANT] = origin
        return
    if store.origins:
        raise ApiError(403, "origin_not_allowed", f"origin {origin} is not one of this store's")
    if personal:
        raise ApiError(
            403,
            "origin_not_allowed",
            f"origin {origin}: this call reveals or changes a visitor's data, so it is served "
            "only to the store's own origins, and this store lists none. Add the shop's "
            "origin on the dashboard's Stores page, or create the store with "
            f"`clerk-collector create-store --origin {origin}`",
        )
    request.scope[GRANT] = origin


def from_browser(request: Request) -> bool:
    """Whether a request carries what every current browser sends: `Origin` (on every POST
    and CORS request) or `Sec-Fetch-*` (on every request since 2020-2023). Without both it
    is a server, a script or a browser too old to send them; only a POST's answer is sure,
    since a same-origin GET of an older browser carries neither."""
    headers = request.headers
    return "origin" in headers or any(name.startswith("sec-fetch-") for name in headers.keys())


def granted(scope: Scope) -> str | None:
    """The origin this request's endpoint granted, if any."""
    value = scope.get(GRANT)
    return value if isinstance(value, str) else None
