"""Size caps of what a call may send: one place for the numbers, read by every field.

A value past a cap is a 400 `invalid_field` naming the field ("labels: has 11 items;
the limit is 10"), and nothing of the call is stored. Each cap is set well above what
a real storefront sends, so that only a broken or hostile client meets it (why each
value: below the table). Caps bound sizes (what one call can make the collector
store, read, hash or keep in a cache); they are not what stops a forged sale (the
origin rule, rate limits and private-key sales winning do that).

| cap                 | value         | fields                                 | reason below  |
|---------------------|---------------|----------------------------------------|---------------|
| LABELS_MAX          | 10            | labels (log/click and product lists)   | labels        |
| LABEL_LENGTH_MAX    | 64            | labels[i]                              | labels        |
| API_LENGTH_MAX      | 100           | log/click api                          | api           |
| EXCLUDE_MAX         | 200           | exclude (recommendations, search)      | exclude       |
| SEED_PRODUCTS_MAX   | 50            | recommendations' products (seeds)      | seeds         |
| BASKET_PRODUCTS_MAX | 500           | log/basket/set products                | sale lines    |
| SALE_LINES_MAX      | 500           | log/sale products, imported orders     | sale lines    |
| QUANTITY_MAX        | 100_000       | a sale line's quantity                 | quantity      |
| PRICE_MAX           | 1_000_000_000 | a sale line's price, a product's price | price         |
| CATALOGUE_BATCH_MAX | 10_000        | products API (private key) per call    | catalogue     |
| CONTENTS_MAX        | 200           | contents a store has (and per call)    | contents      |
| CONTENT_NAME_MAX    | 200           | a content's name                       | contents      |
| DESIGN_LENGTH_MAX   | 50_000        | a content's design, in characters      | contents      |
| CATALOGUE_BATCH_MAX | 10_000        | products, categories, pages per call   | catalogue     |
| SITE_ITEMS_MAX      | 100_000       | categories, pages a store holds        | site data     |
| SUBCATEGORIES_MAX   | 1_000         | a category's subcategories             | site data     |
| PAGE_TEXT_MAX       | 50_000        | a page's text (characters)             | site data     |
| ORDERS_BATCH_MAX    | 1_000         | orders API (private key) per call      | orders        |
| CATALOGUE_BATCH_MAX | 10_000        | customers API (private key) per call   | catalogue     |

Labels: Clerk's widgets are labelled with short names (`["Home", "You previously
saw"]`), so 10 labels of 64 characters leave room for any naming scheme. Labels are
stored as JSON with \\u escapes, up to 12 bytes a character: 10 x 64 characters is at
most about 7.7 KB, which is why no index or key holds the labels' text (the daily
roll-ups are keyed by a hash of them: storage/rollups.labels_hash).

Exclude: clerk.js sends the products a page already shows so that widgets do not
repeat them; a page with a category grid and a few widgets shows well under 200.

Seeds: bought together and similar products read the stored pairs of every seed,
so the seeds bound what one request reads; a basket of more than 50 different
products is not a shopper's.

Sale lines and baskets: a web order rarely has more than 100 lines; wholesale orders
of a few hundred do happen, and refusing a real sale loses it (clerk.js does not
retry, and an import stops at the refused order), so the cap is five times the rare
case. A basket becomes an order, so it has the same cap.

Api: Clerk's api names ("recommendations/visitor/complementary") are under 40
characters; events.api is a VARCHAR(100).

Quantity: wholesale shops sell lines of 10,000 units (labels, bags, screws), so the
cap is ten times that.

Price: in the shop's own currency, where a million is an everyday price in some (the
Indonesian rupiah, the Vietnamese dong, the Korean won): the cap is a thousand times
that. One constant serves sale lines and the catalogue, so that whatever the
catalogue holds can be sold.

Catalogue: the products API (private key only) takes a feed in batches of up to
10,000 products; the body size limit (MAX_BODY_BYTES) usually binds first.

Contents: a Clerk shop configures a few dozen (one per page slot: product page,
category page, cart, search, exit intent, ...), so 200 is ample; each is cached per
process with its design, and a design of 50,000 characters is a page of Liquid far
longer than any storefront's (Clerk's stock designs are under 5,000); it also leaves
a content with such a design within the default body size limit (MAX_BODY_BYTES, 64 KB),
so that one can always be saved by the API. A content's labels are a widget's labels
(LABELS_MAX, LABEL_LENGTH_MAX).
10,000 products; the body size limit (MAX_BODY_BYTES) usually binds first. The
categories and pages APIs take the same batches.

Site data: categories and content pages (private key only) are kept for search, and
unlike products nothing else bounds how many a store keeps, so a store holds at most
100,000 of each (a department store's category tree has a few thousand; a blog a few
thousand posts); an upsert past it is refused whole. A category lists its immediate
subcategories, at most 1,000; a page's text is the searchable body of an article,
50,000 characters (some 8,000 words) at most.

Orders: the orders API (private key only) takes a shop's order history in batches of
up to 1,000 orders; each may hold SALE_LINES_MAX lines, so a batch is bounded (the
body size limit binds long before). Customers come in catalogue-sized batches.
"""

from __future__ import annotations

LABELS_MAX = 10
LABEL_LENGTH_MAX = 64
API_LENGTH_MAX = 100
EXCLUDE_MAX = 200
SEED_PRODUCTS_MAX = 50
BASKET_PRODUCTS_MAX = 500
SALE_LINES_MAX = 500
QUANTITY_MAX = 100_000
PRICE_MAX = 1_000_000_000
CATALOGUE_BATCH_MAX = 10_000
CONTENTS_MAX = 200
CONTENT_NAME_MAX = 200
DESIGN_LENGTH_MAX = 50_000
SITE_ITEMS_MAX = 100_000
SUBCATEGORIES_MAX = 1_000
PAGE_TEXT_MAX = 50_000
ORDERS_BATCH_MAX = 1_000
