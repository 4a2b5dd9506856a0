"""Jinja2 templates and the context every page shares (header, footer, tracker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from demo_shop import cart, consent, widgets

TEMPLATES_DIR = Path(__file__).parent / "templates"


def money(value: float) -> str:
    return f"${value:,.2f}"


def current_path(request: Request) -> str:
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


def shop_context(request: Request) -> dict[str, Any]:
    settings = request.app.state.settings
    choice = consent.current(request)
    return {
        "collector_url": settings.collector_url,
        "public_key": settings.public_key,
        "consent": choice,
        "consent_label": choice.label if choice else consent.UNDECIDED_LABEL,
        "consent_choices": consent.CHOICES,
        "visitor_mode": consent.visitor_mode(choice),
        "cart_count": cart.count(cart.read(request)),
        "nav_categories": request.app.state.categories,
        "info_pages": request.app.state.info_pages,
        "current_path": current_path(request),
        "widgets": widgets,
    }


templates = Jinja2Templates(directory=TEMPLATES_DIR, context_processors=[shop_context])
templates.env.filters["money"] = money


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context or {}, status_code=status_code)
