"""The privacy choice endpoints: the consent form's target and its no-JS page."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from demo_shop.consent import CHOICES, remember, safe_next, wants_no_redirect
from demo_shop.templating import render


async def consent_page(request: Request) -> HTMLResponse:
    """The no-JS way to reopen the choice: the banner, shown on its own page."""
    back = safe_next(request, request.query_params.get("next"))
    return render(request, "consent.html", {"next": back, "inline_banner": True})


async def consent_submit(request: Request) -> Response:
    form = await request.form()
    raw = form.get("choice")
    choice = CHOICES.get(raw) if isinstance(raw, str) else None
    if choice is None:
        raise HTTPException(400, "Unknown privacy choice: use accept, necessary or reject")
    if wants_no_redirect(request):
        response: Response = Response(status_code=204)
    else:
        raw_next = form.get("next")
        back = safe_next(request, raw_next if isinstance(raw_next, str) else None)
        response = RedirectResponse(back, status_code=303)
    remember(response, choice, secure=request.url.scheme == "https")
    return response
