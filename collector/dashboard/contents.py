"""The Contents page: a store's contents, a form to create or edit one, and its preview.

The form is checked by the same code as POST /v2/contents (collector/contents.py), and a
problem is shown next to its field, with nothing saved. "Preview" checks the form and
renders its design with python-liquid (collector/liquid.py) over the store's own products
(what the content's api answers for them; see contents.preview: never a visitor's data),
without saving. The preview is shown in an `<iframe sandbox srcdoc>` without allow-scripts,
its unsafe URLs, handlers and scripts removed (liquid.sanitize). The page has no script.

A srcdoc frame lives under its page's Content-Security-Policy, so this page's lets product
images (any http(s) address) and a design's own styles show; nothing may run either way.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .. import caps, contents, liquid
from ..errors import ApiError
from ..storage import contents as stored
from ..storage.stores import Store
from .auth import Admin, checked_form, current_admin, page, services_of
from .middleware import SECURITY_HEADERS
from .templating import render
from .views import store_of

FIELDS = ("id", "name", "api", "limit", "labels", "arguments", "design")
CSP = {
    **SECURITY_HEADERS,
    "content-security-policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https: http:; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
}


def _form_of(content: dict[str, Any] | None) -> dict[str, str]:
    """A stored content as the form's text fields (or an empty form)."""
    if content is None:
        return {"id": "", "name": "", "api": "recommendations/popular", "limit": "10"} | {
            "labels": "",
            "arguments": "{}",
            "design": "",
        }
    return {
        "id": content["id"],
        "name": content["name"],
        "api": content["api"],
        "limit": str(content["limit"]),
        "labels": "\n".join(content["labels"]),
        "arguments": json.dumps(content["arguments"], indent=2),
        "design": content["design"] or "",
    }


def check_form(form: dict[str, str]) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The content the form describes, checked as the API checks it; or the problems by
    field (nothing is saved then)."""
    problems: dict[str, str] = {}
    raw: dict[str, Any] = {k: form[k] for k in ("id", "name", "api")}
    raw["name"] = raw["name"].strip() or None
    limit = form["limit"].strip()
    if limit.isdigit() and len(limit) <= 4:
        raw["limit"] = int(limit)
    else:
        problems["limit"] = "limit: must be a whole number from 1 to 100"
    raw["labels"] = [line.strip() for line in form["labels"].splitlines() if line.strip()]
    try:
        raw["arguments"] = json.loads(form["arguments"].strip() or "{}")
    except ValueError as exc:
        problems["arguments"] = f"arguments: is not JSON: {exc}"
    raw["design"] = form["design"].replace("\r\n", "\n") or None
    if problems:
        return None, problems
    try:
        return contents.check_content("content", raw), {}
    except ApiError as exc:
        field, _, message = exc.message.removeprefix("content.").partition(":")
        name = re.split(r"[.\[]", field)[0]
        return None, {name if name in FIELDS else "id": f"{field}:{message}"}


async def _preview(request: Request, store: Store, content: dict[str, Any]) -> tuple[str, str]:
    """The preview's HTML (sanitised, for srcdoc) and a problem, if it could not render."""
    try:
        context = await contents.preview(request, services_of(request), store, content)
        markup = liquid.render(content["design"] or liquid.DEFAULT_DESIGN, context)
    except (ApiError, liquid.DesignError) as exc:
        return "", str(exc.message if isinstance(exc, ApiError) else exc)
    return liquid.sanitize(markup), ""


async def _page(
    request: Request, admin: Admin, store: Store, status: int = 200, **extra: Any
) -> Response:
    listed = await services_of(request).storage.read(stored.list_all, store_id=store.id)
    values: dict[str, Any] = {
        "admin": admin,
        "store": store,
        "page": "contents",
        "contents": listed,
        "apis": sorted(contents.LISTS),
        "form": _form_of(None),
        "problems": {},
        "preview": None,
        "preview_problem": "",
        "done": "",
        "missing": "",
        "max_contents": caps.CONTENTS_MAX,
        **extra,
    }
    return render(request, "contents.html", values, status=status, headers=CSP)


@page
async def contents_page(request: Request) -> Response:
    admin = await current_admin(request)
    store = store_of(request, admin)
    wanted = request.query_params.get("edit", "")
    if not wanted:
        return await _page(request, admin, store)
    found = await services_of(request).storage.read(
        stored.get, store_id=store.id, content_id=wanted[:64]
    )
    if found is None:
        return await _page(request, admin, store, 404, missing=f"There is no content {wanted}.")
    preview, problem = await _preview(request, store, found)
    return await _page(
        request, admin, store, form=_form_of(found), preview=preview, preview_problem=problem
    )


@page
async def save_content(request: Request) -> Response:
    """Save the form (action=save) or only preview it (action=preview)."""
    admin = await current_admin(request)
    store = store_of(request, admin)
    posted = await checked_form(request)
    form = {k: str(posted.get(k) or "")[: caps.DESIGN_LENGTH_MAX + 1000] for k in FIELDS}
    content, problems = check_form(form)
    if content is None:
        return await _page(request, admin, store, 400, form=form, problems=problems)
    preview, problem = await _preview(request, store, content)
    if posted.get("action") == "preview":
        return await _page(
            request, admin, store, form=form, preview=preview, preview_problem=problem
        )
    try:
        await contents.save(services_of(request), store.id, [content])
    except ApiError as exc:
        problems = {"id": exc.message}
        return await _page(request, admin, store, 400, form=form, problems=problems)
    return await _page(
        request,
        admin,
        store,
        form=_form_of(content),
        preview=preview,
        preview_problem=problem,
        done=f"Content {content['id']} saved.",
    )


@page
async def delete_content(request: Request) -> Response:
    admin = await current_admin(request)
    store = store_of(request, admin)
    posted = await checked_form(request)
    content_id = str(posted.get("id") or "")[:64]
    deleted = await contents.remove(services_of(request), store.id, [content_id])
    if not deleted:
        return await _page(request, admin, store, 404, missing=f"There is no content {content_id}.")
    return await _page(request, admin, store, done=f"Content {content_id} deleted.")
