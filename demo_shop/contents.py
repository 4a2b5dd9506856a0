"""The Clerk contents of the demo store: what `clerk-collector demo` seeds.

A content is a named slot a Clerk storefront embeds as `<span class="clerk"
data-template="@id">`: the collector answers it with the content's api, limit and labels,
and clerk.js renders the answer through its design, Liquid (Clerk's template language).
The ids are the ones Clerk's official plugins embed (product-page-alternatives, ...,
live-search) and the demo's own (empty-cart-popular); api, labels, limit and heading come
from demo_shop/widgets.py, the designs are the shop's own product cards and suggestion
rows (demo_shop/static/shop.css), so a content looks like the rest of the page.

Designs use what both renderers share (tests/fixtures/liquid_cases.json): `for`, `if`,
dot access, `.size`, `money` and `default`. Catalogue text is escaped by the renderer.
"""

from __future__ import annotations

import hashlib
from typing import Any

from demo_shop import widgets
from demo_shop.widgets import Widget

# A price as the shop shows it: the sale price and the struck list price when on sale.
PRICE = (
    '<span class="price">{% if product.list_price > product.price %}'
    '<span class="price-now on-sale">{{ globals.currency_symbol | default: "$" }}'
    "{{ product.price | money }}</span> "
    '<s class="price-was">{{ globals.currency_symbol | default: "$" }}'
    "{{ product.list_price | money }}</s>"
    '{% else %}<span class="price-now">{{ globals.currency_symbol | default: "$" }}'
    "{{ product.price | money }}</span>{% endif %}</span>"
)

# The shop's product card (templates/_macros.html); `data-clerk-product-id` makes a click
# on it a logged click of this content.
CARD = f"""
  <article class="card" data-clerk-product-id="{{{{ product.id }}}}">
    <a class="product-link" href="{{{{ product.url }}}}">
      <div class="card-media">
        <img src="{{{{ product.image }}}}" alt="" width="300" height="300" loading="lazy">
        {{% if product.list_price > product.price %}}
        <span class="tag tag-sale">Sale</span>{{% endif %}}
      </div>
      <span class="card-brand">{{{{ product.brand }}}}</span>
      <h3 class="card-name">{{{{ product.name }}}}</h3>
    </a>
    {PRICE}
  </article>"""

# A headed row of cards, as the shop's other sections; nothing at all when empty.
SECTION = f"""{{% if products.size > 0 %}}
<section class="section widget clerk-design" aria-label="{{{{ content.name }}}}">
  <div class="section-head"><h2>{{{{ content.name }}}}</h2></div>
  <div class="grid">
  {{% for product in products %}}{CARD}
  {{% endfor %}}
  </div>
</section>
{{% endif %}}"""

# The search page's results: the shop's cards with the product's colour (a facet), no
# heading (the page has its own) and no wrapper: they go into the page's grid
# (#clerk-search-results, templates/search.html), and "load more" adds the next ones to it.
SEARCH_CARD = CARD.replace(
    "</h3>",
    """</h3>
      {% if product.colour %}<span class="card-colour">
        <i class="swatch" data-colour="{{ product.colour }}"></i>{{ product.colour }}</span>
      {% endif %}""",
)
RESULTS = f"""{{% for product in products %}}{SEARCH_CARD}
{{% endfor %}}"""

# The header's live search: search suggestions, categories and pages beside compact product
# rows (a second column on a wide screen); a section without anything is left out. Naming
# suggestions, categories and pages, the design renders those sections itself (clerk.js
# adds its own plain lists only for a design that does not). The arrow keys move through
# the products and the role="option" links.
LIVE = """<div class="clerk-design live-search">
{% if suggestions.size > 0 or categories.size > 0 or pages.size > 0 %}
  <div class="live-search-side">
  {% if suggestions.size > 0 %}
    <section class="live-search-section live-search-suggestions">
      <h2 id="live-search-suggestions">Suggestions</h2>
      <div role="listbox" aria-labelledby="live-search-suggestions">
      {% for suggestion in suggestions %}
      <a class="live-search-term" role="option" href="/search?q={{ suggestion | url_encode }}">
        {{- suggestion -}}
      </a>
      {% endfor %}
      </div>
    </section>
  {% endif %}
  {% if categories.size > 0 %}
    <section class="live-search-section live-search-categories">
      <h2 id="live-search-categories">Categories</h2>
      <div role="listbox" aria-labelledby="live-search-categories">
      {% for category in categories %}
      <a class="live-search-link" role="option" href="{{ category.url }}">{{ category.name }}</a>
      {% endfor %}
      </div>
    </section>
  {% endif %}
  {% if pages.size > 0 %}
    <section class="live-search-section live-search-pages">
      <h2 id="live-search-pages">Help &amp; info</h2>
      <div role="listbox" aria-labelledby="live-search-pages">
      {% for page in pages %}
      <a class="live-search-link" role="option" href="{{ page.url }}">{{ page.title }}</a>
      {% endfor %}
      </div>
    </section>
  {% endif %}
  </div>
{% endif %}
  <section class="live-search-section live-search-products">
    <h2>Products</h2>
    {% for product in products %}
    <a class="suggestion" href="{{ product.url }}" data-clerk-product-id="{{ product.id }}">
      <img src="{{ product.image }}" alt="" width="44" height="44">
      <span class="suggestion-text">
        <span class="suggestion-name">{{ product.name }}</span>
        <span class="suggestion-brand">{{ product.brand }}</span>
      </span>
      <span class="suggestion-price">
        {{- globals.currency_symbol | default: "$" }}{{ product.price | money -}}
      </span>
    </a>
    {% endfor %}
    {% if products.size == 0 %}<p class="live-search-none">No products match yet.</p>{% endif %}
    {% if query %}
    <a class="live-search-all" href="/search?q={{ query | url_encode }}">
      All results for “{{ query }}”</a>
    {% endif %}
  </section>
</div>"""

# The exit-intent content, shown in the shop's popup (templates/base.html).
EXIT = f"""{{% if products.size > 0 %}}
<div class="clerk-design exit-intent-design">
  <h2>{{{{ content.name }}}}</h2>
  <p class="muted">Still looking? These might be what you came for.</p>
  <div class="grid">
  {{% for product in products %}}{CARD}
  {{% endfor %}}
  </div>
</div>
{{% endif %}}"""


def _content(widget: Widget, design: str, **arguments: Any) -> dict[str, Any]:
    assert widget.content, widget
    return {
        "id": widget.content,
        "name": widget.title or widget.content.replace("-", " ").capitalize(),
        "api": widget.api,
        "limit": widget.limit,
        "labels": list(widget.labels),
        "arguments": arguments,
        "design": design,
    }


def contents() -> list[dict[str, Any]]:
    """Every content of the demo store, as `contents.upsert` and `POST /v2/contents` take them."""
    return [
        _content(widgets.PRODUCT_ALTERNATIVES, SECTION),
        _content(widgets.PRODUCT_OTHERS_BOUGHT, SECTION),
        _content(widgets.CATEGORY_POPULAR, SECTION),
        _content(widgets.CATEGORY_TRENDING, SECTION),
        _content(widgets.CART_OTHERS_BOUGHT, SECTION),
        _content(widgets.POWERSTEP, SECTION),
        # A personal list: for a shopper the collector knows nothing of yet, bestsellers.
        _content(widgets.EXIT_INTENT, EXIT, fallback="popular"),
        _content(widgets.SEARCH_RESULTS, RESULTS),
        _content(widgets.HEADER_SEARCH, LIVE),
        _content(widgets.EMPTY_CART, SECTION),
    ]


# Designs that earlier versions of the demo seeded, by content id (sha256 of the design): a
# store that still holds one, unedited, gets the current design at the next start
# (collector/demo.py); a design the owner changed is kept.
EARLIER_DESIGNS = {
    # Before the search page had facets: cards in a grid of their own; suggestion rows only.
    "search-page": {"fe76da73e3ac8d163717005b2bd54bb11b9fa2fc49ad703770b8a78e35806247"},
    "live-search": {"eceb4e4d39e20650c7cc0bf145fcd27d03fc6e3667ec5587f6a85c0968622d48"},
}


def is_earlier_design(content_id: str, design: str | None) -> bool:
    digest = hashlib.sha256((design or "").encode()).hexdigest()
    return digest in EARLIER_DESIGNS.get(content_id, set())


def by_id() -> dict[str, dict[str, Any]]:
    return {content["id"]: content for content in contents()}
