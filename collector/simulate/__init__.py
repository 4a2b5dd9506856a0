"""`clerk-collector simulate`: believable shop traffic, sent through the collector's own API.

Every event is a real request to the collector app, built with `create_app` and
called in process (`AsgiClient`: the ASGI scope, body and headers a browser's
fetch gives, the client's address in the scope), with its lifespan run, so
validation, the visitor modes, the group-commit writer, attribution and the
search log work exactly as they do for clerk.js in production. Only the clock
is simulated: `Services(settings, clock=SimulatedClock)` gives every request
the moment of its own simulated visit, over the D days before now.

The traffic, per visitor (a person with one device, sometimes two):

- mode: about half cookieless (`visitor: "auto"`; the collector derives the id
  from the simulated IP and User-Agent with the salt of the day, so the same
  shopper has a new id each day), a third persistent (a clerk.js cookie id
  that returns over several days), the rest `visitor: null` (nothing that
  identifies: no session, email or customer, as clerk.js sends them);
- visits: at most one a day, spread over the hours of the day (evenings busiest,
  weekends and recent days a little busier); each a walk over the demo shop's
  pages, with the calls its markup makes: home (visitor/history, visitor/
  complementary, popular), category (category/popular), product (log/product,
  complementary, substituting), the header's predictive search as the shopper
  types, the search page (search/search, popular), the cart (log/basket/set),
  checkout (log/email from the email field) and the order page (log/sale);
- products are viewed with a skewed popularity; queries use words of product
  names, some with a typo, some for things the shop does not sell;
- clicks on recommended products and search results are logged as clerk.js logs
  them (api, labels, 1-based position), and a clicked product is put in the
  basket much more often than one found by browsing, so that the dashboard
  shows sales through Clerk; some shoppers come back days later for a product
  they clicked, some buy twice, some on a second device with the same email.

Deterministic: the seed fixes the visitors, their visits, pages, queries and
baskets, and so every count. Which recommended product is clicked is taken from
the collector's answer, which can depend on the order in which concurrent
writes were committed (`concurrency=1` makes a run fully repeatable).

Where it lives: `asgi` (the in-process client), `clock` (the simulated clock),
`shoppers` (who the shoppers are, the catalogue as they see it, their queries and
the plan of their visits), `visits` (one visit's walk over the shop's pages, whose
widgets are demo_shop/widgets.py), `runner` (the run, day by day, and `simulate()`)
and `outcome` (`Result`, `SimulationError`).
"""

from __future__ import annotations

from .outcome import BadArguments, Result, SimulationError
from .runner import DEFAULT_CONCURRENCY, MAX_DAYS, MAX_VISITORS, Simulation, simulate

__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_DAYS",
    "MAX_VISITORS",
    "BadArguments",
    "Result",
    "Simulation",
    "SimulationError",
    "simulate",
]
