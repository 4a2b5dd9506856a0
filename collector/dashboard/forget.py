"""The Forget button of Customers and of a visitor's log: erase, then show what went."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..storage import tracking
from .auth import checked_form, current_admin, page, services_of
from .templating import render
from .views import store_of


@page
async def forget(request: Request) -> Response:
    admin = await current_admin(request)
    store = store_of(request, admin)
    form = await checked_form(request)
    email = str(form.get("email") or "").strip()[:254]
    visitor_id = str(form.get("visitor") or "").strip()[:64]
    context = {"admin": admin, "store": store, "page": "customers"}
    if not email and not visitor_id:
        return render(
            request,
            "forgotten.html",
            {**context, "problem": "Say which customer (email) or visitor to forget."},
            status=400,
        )
    removed = await services_of(request).storage.write(
        tracking.forget,
        store_id=store.id,
        visitor_ids=[visitor_id] if visitor_id else [],
        email=email or None,
    )
    return render(
        request,
        "forgotten.html",
        {**context, "problem": "", "email": email, "visitor_id": visitor_id, "removed": removed},
    )
