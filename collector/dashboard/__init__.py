"""The shop owner's dashboard, served under /dashboard by the collector itself.

Server-rendered pages (Jinja2, autoescaped; charts as inline SVG; no JavaScript),
sessions kept in the database behind a signed cookie (sign-out ends them for every
copy of the cookie), a CSRF token on every form, sign-in throttling kept in the
database, and a CSV export of every table. The numbers come from
`collector.storage.reports`, the same queries as the stats/* endpoints.
"""

from __future__ import annotations

from .routes import mount

__all__ = ["mount"]
