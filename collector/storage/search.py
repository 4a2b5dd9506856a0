"""Product search: the index, its vocabulary, popularity figures and the log of searches.

What is indexed: each product's name, its labels (brand and categories) and its
description, as three fields of `search_texts`, with a narrow row per product in
`search_documents` (store, stock, popularity: what ranking reads for every match).
`index_products` and `unindex_products` keep both in step with the catalogue
(catalogue.py calls them in the same transaction). Text is folded in Python, once,
the same way for products and queries (`fold`, `words`): lower case, accents and
common ligatures removed (Café -> cafe, Straße -> strasse, Ærø -> aero), cut into
words of letters and digits. SQLite indexes the folded fields with FTS5
(`search_fts`, external content, kept in step by triggers); PostgreSQL with two
stored tsvector columns (simple config, through an immutable wrapper of unaccent)
and a GIN index. So both engines see the same words, and the vocabulary holds
exactly the indexed words.

How matches rank (`search_products`), best first:
1. exact before typo: products matching every query word as typed come before
   those that need a one-edit correction of a long word;
2. field: every word in the name, then every word in name + brand/categories,
   then anywhere (the description included);
3. popularity: units sold, then product views (`sales` and `views`, refreshed
   from order_lines and events by `popularity_changes` + `save_popularity`);
4. product id, so that paging is stable.
A page is read one rank tier at a time until it is full, and the number of all matches
is counted apart (exactly); see "one page of matches" below. Predictive answers, counts
and typo corrections are cached per process until the store's catalogue changes (see
"caches").

Typos: each query word of 5 to 39 letters has its edit-1 variants (insertion,
deletion, substitution, transposition) generated in Python and looked up in the
store's vocabulary (`search_vocabulary`: the indexed words of 4 to 40 characters,
with the number of products holding each) in one indexed query; the variants
found are OR-ed with the word as typed. Words with a digit are codes (sizes,
models, SKUs: "iphone15", "brand17") and must match as typed: "brand17" is not a
typo of "brand18".

Prefixes (predictive search only) start at two characters: a single letter would
match most of a catalogue and tell the shopper nothing.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    literal,
    select,
    text,
    update,
)

from . import catalogue
from .caches import Cache, cache_for
from .engine import upsert
from .schema import BigId, events, metadata, order_lines, products

# A typo is tolerated in query words of TYPO_MIN..VOCABULARY_MAX-1 characters, so
# the vocabulary needs the words one edit away: VOCABULARY_MIN..VOCABULARY_MAX.
TYPO_MIN = 5
PREFIX_MIN = 2
VOCABULARY_MIN, VOCABULARY_MAX = TYPO_MIN - 1, 40
MAX_QUERY_WORDS = 10
MAX_TYPO_WORDS = 4  # words per query that get typo variants (each costs ~70 x length lookups)
MAX_VARIANTS = 20  # per word, the most common variants found
CHUNK = 500

search_documents = Table(
    "search_documents",
    metadata,
    Column("doc_id", BigId, primary_key=True, autoincrement=True),
    Column("store_id", Integer, nullable=False),
    Column("product_id", String(128), nullable=False),
    Column("stock", Integer),  # as products.stock, so that catalogue.available() applies
    Column("sales", BigInteger, nullable=False, server_default="0"),
    Column("views", BigInteger, nullable=False, server_default="0"),
    Index("ux_search_documents_product", "store_id", "product_id", unique=True),
)

# The indexed text, apart from the rows above so that ranking never reads it.
search_texts = Table(
    "search_texts",
    metadata,
    Column(
        "doc_id",
        BigId,
        ForeignKey("search_documents.doc_id"),
        primary_key=True,
        autoincrement=False,
    ),
    # Folded words separated by single spaces.
    Column("name_terms", Text, nullable=False),
    Column("label_terms", Text, nullable=False),
    Column("body_terms", Text, nullable=False),
)

search_vocabulary = Table(
    "search_vocabulary",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("word", String(VOCABULARY_MAX), primary_key=True),
    Column("products", Integer, nullable=False),
)

# When each store's sales and views figures were last brought up to date.
search_popularity = Table(
    "search_popularity",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("refreshed_at", BigInteger, nullable=False),
)

# Per store (migration 5): a counter that every change to the store's index bumps, so
# that answers, counts and corrections cached per process are only reused while it
# holds, and the number of indexed documents (how sparse a query's matches are).
search_catalogue = Table(
    "search_catalogue",
    metadata,
    Column("store_id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
    Column("documents", Integer, nullable=False),
)

# Every search and predictive query, zero-result ones included (hits = 0).
searches = Table(
    "searches",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("store_id", Integer, ForeignKey("stores.id"), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("api", String(32), nullable=False),
    Column("query", String(200), nullable=False),  # as typed, trimmed
    Column("normalised", String(200), nullable=False),  # folded, single spaces
    Column("hits", Integer, nullable=False),
    Column("visitor_mode", String(12), nullable=False),
    Column("visitor_id", String(64)),
    Column("session", String(64)),
    Index("ix_searches_store_ts", "store_id", "ts"),
    Index("ix_searches_store_normalised", "store_id", "normalised"),
    Index("ix_searches_store_visitor", "store_id", "visitor_id"),  # for erasure
)

# ---------------------------------------------------------------- text folding

_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Letters that do not decompose but that shoppers type without the stroke or as two
# letters (as PostgreSQL's unaccent does); modifier letters that act as apostrophes.
_LETTERS = str.maketrans(
    {
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "ð": "d",
        "þ": "th",
        "đ": "d",
        "ħ": "h",
        "ı": "i",
        "ł": "l",
        "ŋ": "n",
        "ŧ": "t",
        "ƒ": "f",
        **dict.fromkeys("ʹʺʻʼʽˆˈˋː", " "),
    }
)
_ASCII_WORD = re.compile(r"[a-z0-9]+")


def fold(value: str) -> str:
    """Lower case without accents: "Crème BRÛLÉE" -> "creme brulee"."""
    if value.isascii():
        return value.lower()
    bare = _DIACRITICS.sub("", unicodedata.normalize("NFKD", value.casefold()))
    return unicodedata.normalize("NFC", bare).translate(_LETTERS)


@functools.cache
def _word_pattern() -> re.Pattern[str]:
    """Letters, digits and the marks inside words (Devanagari vowel signs, ...)."""
    marks = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c))[0] == "M"]
    ranges: list[tuple[int, int]] = []
    for c in marks:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    spans = "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)
    return re.compile(f"(?:[^\\W_]|[{spans}])+")


def words(value: str) -> list[str]:
    """The folded words of a text, in order: "T-Shirt, größe M" -> [t, shirt, grosse, m]."""
    folded = fold(value)
    if folded.isascii():
        return _ASCII_WORD.findall(folded)
    return _word_pattern().findall(folded)


def normalise_query(query: str) -> str:
    """How a query is stored for grouping: folded, single spaces, punctuation kept."""
    return " ".join(fold(query).split())[:200]


# ---------------------------------------------------------------- the index


@dataclass(frozen=True)
class Document:
    name: str
    labels: str
    body: str
    stock: int | None

    @property
    def fields(self) -> tuple[str, str, str]:
        return (self.name, self.labels, self.body)

    def vocabulary(self) -> set[str]:
        return {
            word
            for field in self.fields
            for word in field.split()
            if VOCABULARY_MIN <= len(word) <= VOCABULARY_MAX
        }


def document(item: dict[str, Any]) -> Document:
    """The searchable text of a product (a validated product dict)."""
    labels = [item.get("brand") or "", *(item.get("categories") or [])]
    return Document(
        name=" ".join(words(item["name"])),
        labels=" ".join(words(" ".join(labels))),
        body=" ".join(words(item.get("description") or "")),
        stock=item.get("stock"),
    )


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _indexed(
    conn: Connection, store_id: int, product_ids: Sequence[str]
) -> dict[str, tuple[int, Document]]:
    """The indexed documents of these products (two plain lookups: the same plan on any
    engine, with or without statistics)."""
    d, t = search_documents, search_texts
    found: dict[str, tuple[int, Document]] = {}
    for chunk in _chunks(product_ids):
        where = [d.c.store_id == store_id, d.c.product_id.in_(list(chunk))]
        rows = {
            r.doc_id: r
            for r in conn.execute(select(d.c.doc_id, d.c.product_id, d.c.stock).where(*where))
        }
        if not rows:
            continue
        texts = select(t.c.doc_id, *_text_columns()).where(t.c.doc_id.in_(list(rows)))
        for text_row in conn.execute(texts):
            row = rows[text_row.doc_id]
            fields = (text_row.name_terms, text_row.label_terms, text_row.body_terms)
            found[row.product_id] = (row.doc_id, Document(*fields, stock=row.stock))
    return found


def _text_columns() -> tuple[Any, ...]:
    t = search_texts
    return (t.c.name_terms, t.c.label_terms, t.c.body_terms)


def _text_row(doc_id: int, doc: Document) -> dict[str, Any]:
    return {
        "doc_id": doc_id,
        "name_terms": doc.name,
        "label_terms": doc.labels,
        "body_terms": doc.body,
    }


def index_products(conn: Connection, *, store_id: int, items: Sequence[dict[str, Any]]) -> None:
    """Bring the index in step with upserted products; unchanged text is not re-indexed."""
    changed, added = _index(conn, store_id, items)
    if changed:
        _touch(conn, store_id, added)


def _index(conn: Connection, store_id: int, items: Sequence[dict[str, Any]]) -> tuple[bool, int]:
    """index_products without the version bump (whether anything changed, documents added)."""
    docs = {item["id"]: document(item) for item in items}
    known = _indexed(conn, store_id, list(docs))
    d, t = search_documents, search_texts
    counts: Counter[str] = Counter()
    new = [pid for pid in docs if pid not in known]
    if new:
        rows = [{"store_id": store_id, "product_id": pid, "stock": docs[pid].stock} for pid in new]
        created = conn.execute(d.insert().returning(d.c.doc_id, d.c.product_id), rows).all()
        conn.execute(t.insert(), [_text_row(row.doc_id, docs[row.product_id]) for row in created])
        for pid in new:
            counts.update(docs[pid].vocabulary())
    rewritten: list[dict[str, Any]] = []
    restocked: list[dict[str, Any]] = []
    for pid, (doc_id, old) in known.items():
        doc = docs[pid]
        if old.fields != doc.fields:
            rewritten.append({f"b_{k}": v for k, v in _text_row(doc_id, doc).items()})
            counts.update(doc.vocabulary())
            counts.subtract(old.vocabulary())
        if old.stock != doc.stock:
            restocked.append({"b_doc_id": doc_id, "b_stock": doc.stock})
    if rewritten:
        values: dict[str, Any] = {c.name: bindparam(f"b_{c.name}") for c in _text_columns()}
        conn.execute(update(t).where(t.c.doc_id == bindparam("b_doc_id")).values(values), rewritten)
    if restocked:
        conn.execute(
            update(d).where(d.c.doc_id == bindparam("b_doc_id")).values(stock=bindparam("b_stock")),
            restocked,
        )
    _count_words(conn, store_id, counts)
    return bool(new or rewritten or restocked), len(new)


def unindex_products(conn: Connection, *, store_id: int, ids: Sequence[str]) -> None:
    known = _indexed(conn, store_id, list(ids))
    counts: Counter[str] = Counter()
    for _, old in known.values():
        counts.subtract(old.vocabulary())
    doc_ids = [doc_id for doc_id, _ in known.values()]
    for chunk in _chunks(doc_ids):
        conn.execute(delete(search_texts).where(search_texts.c.doc_id.in_(list(chunk))))
        conn.execute(delete(search_documents).where(search_documents.c.doc_id.in_(list(chunk))))
    _count_words(conn, store_id, counts)
    if known:
        _touch(conn, store_id, -len(known))


def _touch(conn: Connection, store_id: int, added: int) -> None:
    """A new catalogue version for the store, with `added` documents more (or fewer)."""
    c = search_catalogue
    statement = upsert(conn, c).values(store_id=store_id, version=1, documents=added)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["store_id"],
            set_={
                "version": c.c.version + 1,
                "documents": c.c.documents + statement.excluded.documents,
            },
        )
    )


def _count_words(conn: Connection, store_id: int, counts: Counter[str]) -> None:
    """Add these changes to the vocabulary's product counts; drop words no product holds."""
    changes = sorted((word, n) for word, n in counts.items() if n)  # sorted: no deadlocks
    if not changes:
        return
    v = search_vocabulary
    statement = upsert(conn, v)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["store_id", "word"],
            set_={"products": v.c.products + statement.excluded.products},
        ),
        [{"store_id": store_id, "word": word, "products": n} for word, n in changes],
    )
    fewer = [word for word, n in changes if n < 0]
    for chunk in _chunks(fewer):
        conn.execute(
            delete(v).where(v.c.store_id == store_id, v.c.word.in_(list(chunk)), v.c.products <= 0)
        )


def reindex_store(conn: Connection, *, store_id: int) -> int:
    """Index every product of a store from the products table (for migration 2, which
    comes before the versions of migration 5: it counts the documents there are)."""
    done = 0
    query = select(products).where(products.c.store_id == store_id).order_by(products.c.id)
    batch: list[dict[str, Any]] = []
    for row in conn.execute(query):
        batch.append(catalogue.product_dict(row))
        if len(batch) == CHUNK:
            _index(conn, store_id, batch)
            done, batch = done + len(batch), []
    _index(conn, store_id, batch)
    return done + len(batch)


# ---------------------------------------------------------------- typos


def _has_digit(word: str) -> bool:
    return any(c.isdigit() for c in word)


def edits(word: str) -> set[str]:
    """Every string one insertion, deletion, substitution or transposition away."""
    letters = set("abcdefghijklmnopqrstuvwxyz") | set(word)
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    found = {a + b[1:] for a, b in splits if b}
    found |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    found |= {a + c + b[1:] for a, b in splits if b for c in letters}
    found |= {a + c + b for a, b in splits for c in letters}
    found.discard(word)
    return found


def corrections(conn: Connection, *, store_id: int, typed: Iterable[str]) -> dict[str, list[str]]:
    """For each long word, the store's words one edit away (most common first)."""
    candidates = {w: edits(w) for w in typed if TYPO_MIN <= len(w) < VOCABULARY_MAX}
    wanted = sorted(set().union(*candidates.values())) if candidates else []
    if not wanted:
        return {}
    v = search_vocabulary
    query: Any = select(v.c.word, v.c.products).where(
        v.c.store_id == store_id, v.c.word.in_(wanted)
    )
    if conn.dialect.name == "postgresql":
        # PostgreSQL plans an IN list of hundreds of words as a scan of the vocabulary
        # (10 ms): look each word up instead (OFFSET 0 keeps the lookups apart).
        query = text(
            "SELECT w.word, v.products FROM unnest(:words) AS w (word) CROSS JOIN LATERAL"
            " (SELECT products FROM search_vocabulary"
            " WHERE store_id = :store AND word = w.word OFFSET 0) AS v"
        ).bindparams(bindparam("words", wanted, type_=ARRAY(String)), store=store_id)
    found = sorted(conn.execute(query), key=lambda row: (-row.products, row.word))
    return {
        w: [row.word for row in found if row.word in options][:MAX_VARIANTS]
        for w, options in candidates.items()
    }


# ---------------------------------------------------------------- matching


@dataclass(frozen=True)
class Term:
    """A query word: matched as typed (as a prefix when `prefix`), or as one of `variants`."""

    word: str
    prefix: bool
    variants: tuple[str, ...] = ()


def _fts5(terms: Sequence[Term], fuzzy: bool) -> str:
    def alternatives(term: Term) -> str:
        phrases = [f'"{term.word}"' + ("*" if term.prefix else "")]
        phrases += [f'"{v}"' for v in term.variants] if fuzzy else []
        return "(" + " OR ".join(phrases) + ")"

    return "(" + " AND ".join(alternatives(t) for t in terms) + ")"


def _fts5_ranks(terms: Sequence[Term], fuzzy: bool) -> list[str]:
    """FTS5 queries for the three field tiers, each without the documents of better ranks."""
    exact = _fts5(terms, False)
    every = _fts5(terms, fuzzy)
    name, labels = f"({{name_terms}} : {every})", f"({{name_terms label_terms}} : {every})"
    if not fuzzy:
        return [name, f"{labels} NOT {name}", f"{every} NOT {labels}"]
    return [
        f"{name} NOT {exact}",
        f"{labels} NOT ({name} OR {exact})",
        f"{every} NOT ({labels} OR {exact})",
    ]


def _tsquery(terms: Sequence[Term], fuzzy: bool, weights: str = "") -> str:
    def lexeme(word: str, prefix: bool) -> str:
        label = ("*" if prefix else "") + weights
        return f"'{word}'" + (f":{label}" if label else "")

    def alternatives(term: Term) -> str:
        lexemes = [lexeme(term.word, term.prefix)]
        lexemes += [lexeme(v, False) for v in term.variants] if fuzzy else []
        return "(" + " | ".join(lexemes) + ")"

    return " & ".join(alternatives(t) for t in terms)


def _pg_query(name: str) -> str:
    return f"to_tsquery('simple'::regconfig, clerk_search_unaccent(:{name}))"


# ---------------------------------------------------------------- one page of matches
#
# Matches are read one rank tier at a time, best first, and reading stops once the page
# (offset + limit) is full: a broad query ("jacket", 10,627 matches) never sorts all its
# matches to return ten. A tier is read one of two ways:
# - join: every match of the tier is joined to its search_documents row and the best
#   are kept (a top-N sort); the cost grows with the tier's matches;
# - walk: the store's in-stock documents are read in ranking order (from
#   ix_search_documents_popularity) and each is checked against the tier's matches
#   until enough are found; the cost grows with how far down the ranking that is, about
#   need x documents / matches. A walk is capped: if it ends before the page is full,
#   the tier is joined after all.
# SQLite counts a tier's matches in its full-text index alone (cheap; an upper bound, as
# other stores' and out-of-stock documents are included) and picks the cheaper way.
# PostgreSQL counts a level's matches up to 1 / PG_WALK_PER_RESULT of the store's
# documents (stopping there), joins the tiers of a sparse level and walks a dense one's;
# when no level is dense, all matches are ranked and counted in one pass.

DEEP_PAGE = 500  # a page that ends further down ranks all matches in one pass
WALK_MIN_MATCHES = 500  # SQLite: a tier with fewer matches is joined
WALK_GAIN = 3  # SQLite: walk when the documents it is expected to read < this x matches
WALK_CAP = 4  # SQLite: a walk gives up after this x the documents it is expected to read,
WALK_MIN_CAP = 2_000  # or this many if more
PG_WALK_PER_RESULT = 100  # PostgreSQL: a walk reads at most this many documents per result
PG_WALK_MAX = 3_000  # PostgreSQL: ... and is not tried if that is more than this
PG_DENSE_MIN, PG_DENSE_MAX = 200, 2_000  # bounds of "enough matches" for walks

_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")  # :name, not ::type
_AVAILABLE = "(d.stock IS NULL OR d.stock > 0)"
_RANKING = "d.sales DESC, d.views DESC, d.product_id"


@dataclass(frozen=True)
class _Tier:
    level: int  # 0: the words as typed; 1: with a typo corrected
    match: str  # SQLite: an FTS5 query; PostgreSQL: a condition on search_texts AS t


class _Ranking:
    """The engine's SQL for one query: its tiers in rank order, the first rows of a
    tier, and the number of all matches."""

    def __init__(
        self, conn: Connection, store_id: int, documents: int, exclude: Sequence[str]
    ) -> None:
        self.conn, self.store_id, self.documents = conn, store_id, documents
        self.exclude = list(exclude)
        self.tiers: list[_Tier] = []
        self.params: dict[str, Any] = {}
        # What this query's plan learnt of the catalogue (matches per tier or level): the
        # same until the catalogue changes, so kept in the cache with its version.
        self.known: dict[Any, Any] = {}

    def rows(self, sql: str, **params: Any) -> list[Any]:
        """The rows of `sql`; a list given (and :exclude, the excluded ids) binds as IN."""
        sql = sql.replace(":not_excluded", self._not_excluded())
        given = {"store": self.store_id, **self.params, "exclude": self.exclude, **params}
        used = set(_PARAMETER.findall(sql))
        lists = [k for k in used if isinstance(given.get(k), list)]
        statement = text(sql).bindparams(
            **{k: v for k, v in given.items() if k in used and k not in lists}
        )
        for k in lists:
            statement = statement.bindparams(bindparam(k, given[k], expanding=True))
        return list(self.conn.execute(statement).all())

    def _not_excluded(self) -> str:
        return "AND d.product_id NOT IN :exclude" if self.exclude else ""

    def best(self, tier: _Tier, need: int) -> list[str]:
        """The first `need` product ids of a tier in ranking order (fewer: all of it)."""
        raise NotImplementedError

    def count(self) -> int:
        """All matches in stock, the excluded too."""
        raise NotImplementedError

    def count_among(self, ids: list[str]) -> int:
        """The matches in stock among these products."""
        raise NotImplementedError

    def one_pass(self, limit: int, offset: int) -> tuple[list[str], int | None]:
        """A deep page: all matches ranked in one statement, which counts them too (rather
        than every tier read down to the offset, once each)."""
        with_matches, matches = self.ranked_matches()
        rows = self.rows(
            f"{with_matches} SELECT d.product_id, count(*) OVER () AS total FROM {matches}"
            f" WHERE d.store_id = :store AND {_AVAILABLE} :not_excluded"
            f" ORDER BY m.rank, {_RANKING} LIMIT :limit OFFSET :offset",
            limit=limit,
            offset=offset,
        )
        if rows:
            return [r.product_id for r in rows], int(rows[0].total)
        return [], (None if offset else 0)

    def sparse(self) -> bool:
        """Whether so few documents match that one pass costs less than the tiers."""
        return False

    def ranked_matches(self) -> tuple[str, str]:
        """(a WITH clause or "", the FROM items): each match as m (doc_id, rank) and its
        search_documents row as d."""
        raise NotImplementedError


class _SqliteRanking(_Ranking):
    def __init__(
        self,
        conn: Connection,
        store_id: int,
        documents: int,
        exclude: Sequence[str],
        terms: Sequence[Term],
    ) -> None:
        super().__init__(conn, store_id, documents, exclude)
        fuzzy = any(t.variants for t in terms)
        self.tiers = [_Tier(0, m) for m in _fts5_ranks(terms, False)]
        self.tiers += [_Tier(1, m) for m in _fts5_ranks(terms, True)] if fuzzy else []
        self.every = _fts5(terms, fuzzy)

    def best(self, tier: _Tier, need: int) -> list[str]:
        if tier.match not in self.known:
            self.known[tier.match] = self.rows(
                "SELECT count(*) FROM search_fts WHERE search_fts MATCH :match", match=tier.match
            )[0][0]
        matches = int(self.known[tier.match])
        if not matches:
            return []
        # A join costs ~ matches; a walk ~ matches / 3 to list them + the documents it
        # reads, ~ need x documents / matches: walk when that is less.
        expected = need * self.documents // matches
        if matches >= WALK_MIN_MATCHES and WALK_GAIN * matches > expected:
            cap = max(WALK_MIN_CAP, WALK_CAP * expected)
            found = self.rows(
                "SELECT d.product_id, d.sales, d.views FROM ("
                " SELECT doc_id, product_id, sales, views"
                " FROM search_documents INDEXED BY ix_search_documents_popularity"
                " WHERE store_id = :store AND (stock IS NULL OR stock > 0)"
                " ORDER BY sales DESC, views DESC, product_id LIMIT :cap) AS d"
                " WHERE d.doc_id IN (SELECT rowid FROM search_fts WHERE search_fts MATCH :match)"
                " :not_excluded LIMIT :need",
                match=tier.match,
                cap=cap,
                need=need,
            )
            if len(found) == need:
                found.sort(key=lambda r: (-r.sales, -r.views, r.product_id))
                return [r.product_id for r in found]
        # CROSS JOIN: SQLite keeps this order (the matches first, then their rows).
        return [
            r.product_id
            for r in self.rows(
                "SELECT d.product_id FROM search_fts"
                " CROSS JOIN search_documents AS d ON d.doc_id = search_fts.rowid"
                f" WHERE search_fts MATCH :match AND d.store_id = :store AND {_AVAILABLE}"
                f" :not_excluded ORDER BY {_RANKING} LIMIT :need",
                match=tier.match,
                need=need,
            )
        ]

    def count(self) -> int:
        return int(
            self.rows(
                "SELECT count(*) FROM search_fts"
                " CROSS JOIN search_documents AS d ON d.doc_id = search_fts.rowid"
                f" WHERE search_fts MATCH :every AND d.store_id = :store AND {_AVAILABLE}",
                every=self.every,
            )[0][0]
        )

    def count_among(self, ids: list[str]) -> int:
        # As count(), the matches listed by the full-text index: testing each product's
        # row against the query instead (a MATCH with rowid = ...) costs about 30 us a
        # product, more than listing 40,000 matches (5 ms).
        return int(
            self.rows(
                "SELECT count(*) FROM search_fts"
                " CROSS JOIN search_documents AS d ON d.doc_id = search_fts.rowid"
                f" WHERE search_fts MATCH :every AND d.store_id = :store AND {_AVAILABLE}"
                " AND d.product_id IN :among",
                every=self.every,
                among=ids,
            )[0][0]
        )

    def ranked_matches(self) -> tuple[str, str]:
        union = " UNION ALL ".join(
            f"SELECT rowid AS doc_id, {rank} AS rank"
            f" FROM search_fts WHERE search_fts MATCH :m{rank}"
            for rank in range(len(self.tiers))
        )
        self.params.update({f"m{rank}": tier.match for rank, tier in enumerate(self.tiers)})
        return "", f"({union}) AS m CROSS JOIN search_documents AS d ON d.doc_id = m.doc_id"


class _PostgresRanking(_Ranking):
    def __init__(
        self,
        conn: Connection,
        store_id: int,
        documents: int,
        exclude: Sequence[str],
        terms: Sequence[Term],
    ) -> None:
        super().__init__(conn, store_id, documents, exclude)
        fuzzy = any(t.variants for t in terms)
        q = {name: _pg_query(name) for name in ("a0", "n0", "l0", "a1", "n1", "l1")}
        # Each tier with the small head_tsv tested first (it decides most rows of a walk)
        # and all_tsv, the indexed one, always there (head @@ name implies all @@ all).
        self.levels = [f"t.all_tsv @@ {q['a0']}"]
        self.tiers = [
            _Tier(0, f"t.head_tsv @@ {q['n0']} AND t.all_tsv @@ {q['a0']}"),
            _Tier(
                0,
                f"t.head_tsv @@ {q['l0']} AND NOT t.head_tsv @@ {q['n0']}"
                f" AND t.all_tsv @@ {q['a0']}",
            ),
            _Tier(0, f"NOT t.head_tsv @@ {q['l0']} AND t.all_tsv @@ {q['a0']}"),
        ]
        if fuzzy:
            typo = f"t.all_tsv @@ {q['a1']} AND NOT t.all_tsv @@ {q['a0']}"
            self.levels.append(typo)
            self.tiers += [
                _Tier(1, f"t.head_tsv @@ {q['n1']} AND {typo}"),
                _Tier(1, f"t.head_tsv @@ {q['l1']} AND NOT t.head_tsv @@ {q['n1']} AND {typo}"),
                _Tier(1, f"NOT t.head_tsv @@ {q['l1']} AND {typo}"),
            ]
        for level in range(len(self.levels)):
            self.params[f"n{level}"] = _tsquery(terms, bool(level), "A")
            self.params[f"l{level}"] = _tsquery(terms, bool(level), "AB")
            self.params[f"a{level}"] = _tsquery(terms, bool(level))
        self.every = q[f"a{len(self.levels) - 1}"]
        # A walk pays when a level's matches are 1 / PG_WALK_PER_RESULT of the documents.
        self.enough = min(PG_DENSE_MAX, max(PG_DENSE_MIN, documents // PG_WALK_PER_RESULT))

    def _is_dense(self, level: int) -> bool | None:
        """Whether a level has enough matches for walks (None: it has none)."""
        if level not in self.known:
            found = self.rows(
                f"SELECT count(*) FROM (SELECT 1 FROM search_texts AS t"
                f" WHERE {self.levels[level]} LIMIT :enough) AS m",
                enough=self.enough,
            )[0][0]
            self.known[level] = found >= self.enough if found else None
        dense: bool | None = self.known[level]
        return dense

    def sparse(self) -> bool:
        return not any(self._is_dense(level) for level in range(len(self.levels)))

    def best(self, tier: _Tier, need: int) -> list[str]:
        dense = self._is_dense(tier.level)
        if dense is None:
            return []
        cap = PG_WALK_PER_RESULT * need
        if dense and cap <= PG_WALK_MAX:
            found = self.rows(
                "SELECT d.product_id FROM ("
                " SELECT doc_id, product_id, sales, views FROM search_documents"
                " WHERE store_id = :store AND (stock IS NULL OR stock > 0)"
                " ORDER BY sales DESC, views DESC, product_id LIMIT :cap) AS d"
                " JOIN search_texts AS t ON t.doc_id = d.doc_id"
                f" WHERE {tier.match} :not_excluded ORDER BY {_RANKING} LIMIT :need",
                cap=cap,
                need=need,
            )
            if len(found) == need:
                return [r.product_id for r in found]
        # MATERIALIZED: the matches first (bitmap scan of the full-text index), then rows.
        return [
            r.product_id
            for r in self.rows(
                f"WITH m AS MATERIALIZED (SELECT t.doc_id FROM search_texts AS t"
                f" WHERE {tier.match})"
                " SELECT d.product_id FROM m JOIN search_documents AS d ON d.doc_id = m.doc_id"
                f" WHERE d.store_id = :store AND {_AVAILABLE} :not_excluded"
                f" ORDER BY {_RANKING} LIMIT :need",
                need=need,
            )
        ]

    def count(self) -> int:
        return int(
            self.rows(
                "SELECT count(*) FROM search_texts AS t"
                " JOIN search_documents AS d ON d.doc_id = t.doc_id"
                f" WHERE t.all_tsv @@ {self.every} AND d.store_id = :store AND {_AVAILABLE}"
            )[0][0]
        )

    def count_among(self, ids: list[str]) -> int:
        return int(
            self.rows(
                "SELECT count(*) FROM search_documents AS d"
                " JOIN search_texts AS t ON t.doc_id = d.doc_id"
                f" WHERE d.store_id = :store AND d.product_id IN :among AND {_AVAILABLE}"
                f" AND t.all_tsv @@ {self.every}",
                among=ids,
            )[0][0]
        )

    def ranked_matches(self) -> tuple[str, str]:
        q = {name: _pg_query(name) for name in ("a0", "n0", "l0", "n1", "l1")}
        rank = (
            f"CASE WHEN t.head_tsv @@ {q['n0']} THEN 0 WHEN t.head_tsv @@ {q['l0']} THEN 1"
            " ELSE 2 END"
        )
        if len(self.levels) > 1:
            typo = (
                f"CASE WHEN t.head_tsv @@ {q['n1']} THEN 3 WHEN t.head_tsv @@ {q['l1']} THEN 4"
                " ELSE 5 END"
            )
            rank = f"CASE WHEN t.all_tsv @@ {q['a0']} THEN {rank} ELSE {typo} END"
        # MATERIALIZED: ranked where the texts are read, before the join and the sort.
        matches = (
            f"WITH m AS MATERIALIZED (SELECT t.doc_id, {rank} AS rank FROM search_texts AS t"
            f" WHERE t.all_tsv @@ {self.every})"
        )
        return matches, "m JOIN search_documents AS d ON d.doc_id = m.doc_id"


def _page(ranking: _Ranking, limit: int, offset: int) -> tuple[list[str], int | None]:
    """One page of product ids, tier by tier; with the number of all matches when every
    tier was read to its end (else None: the page was full before)."""
    if offset + limit > DEEP_PAGE or ranking.sparse():
        return ranking.one_pass(limit, offset)
    page: list[str] = []
    skip, seen = offset, 0
    for tier in ranking.tiers:
        need = skip + limit - len(page)
        found = ranking.best(tier, need)
        seen += len(found)
        page += found[skip:]
        skip = max(0, skip - len(found))
        if len(found) == need:
            return page, None
    return page, seen


# ---------------------------------------------------------------- caches
#
# Per process and database: predictive answers, the counts of full searches' matches,
# typo corrections and what a query's plan learnt (how many documents match each tier
# or level), each under the store's catalogue version (search_catalogue, read with
# every query), so an entry is never used after a product was added, changed or
# deleted, in this process or another; predictive answers also under the time of the
# last popularity recount. Entries also expire after CACHE_SECONDS, and the least
# recently used go when there are CACHE_ENTRIES, or more than CACHE_IDS product ids in
# all the answers (about 70 bytes each: 200,000 are about 14 MB).
#
# No key holds an `exclude` list: every shopper's box sends its own, and a key with the
# list made one entry per list (1,500 calls with 60 KB lists: +135 MB). A predictive
# answer is kept without exclusions, as deep as the page and the list could need
# (limit + len(exclude): at most that many of its ids can be excluded), rounded up to
# one of PREDICTIVE_DEPTHS so that calls differing a little share an entry (a deeper one
# serves a shallower call); the excluded ids are dropped from it per call. A full search
# applies its list in SQL (its pages are not cached). Counts are of all matches; the
# excluded ones among them (those an answer did not read) are counted per call.

CACHE_SECONDS = 60.0
CACHE_ENTRIES = 4096
CACHE_IDS = 200_000
PREDICTIVE_DEPTHS = (10, 50, 200, 600)  # 600: limit (100) + exclude (500) at most


def _cache(engine: Engine) -> Cache:
    return cache_for(
        engine, "search", entries=CACHE_ENTRIES, seconds=CACHE_SECONDS, weight=CACHE_IDS
    )


def _depth(need: int) -> int:
    """The depth of a cached predictive answer for a call that needs `need` ids."""
    return next((d for d in PREDICTIVE_DEPTHS if d >= need), -(-need // 500) * 500)


@dataclass(frozen=True)
class _State:
    version: int  # of the store's catalogue (0 before its first product)
    documents: int
    popularity: int  # when sales and views were last recounted (0: never)


# PostgreSQL, for the rest of the transaction. Short queries on a busy server: parallel
# workers only slow them down. Plans are made for the words at hand: a plan made for any
# words (a prepared statement's generic plan) cannot tell a walk's query from a join's.
# The search tables are read often enough to be in memory, where a lookup by key is
# cheap: at the default random_page_cost (4), 1,400 matches are joined to their
# documents by hashing all 100,000 of them (28 ms) rather than looked up (10 ms).
_PG_SETTINGS = {
    "max_parallel_workers_per_gather": "0",
    "plan_cache_mode": "force_custom_plan",
    "random_page_cost": "1.1",
}


def _state(conn: Connection, store_id: int) -> _State:
    """The store's versions and documents (and, on PostgreSQL, the settings above)."""
    c, p = search_catalogue, search_popularity
    settings = []
    if conn.dialect.name == "postgresql":
        settings = [func.set_config(k, v, True) for k, v in _PG_SETTINGS.items()]
    row = conn.execute(
        select(
            select(c.c.version).where(c.c.store_id == store_id).scalar_subquery(),
            select(c.c.documents).where(c.c.store_id == store_id).scalar_subquery(),
            select(p.c.refreshed_at).where(p.c.store_id == store_id).scalar_subquery(),
            *settings,
        )
    ).one()
    return _State(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))


def _corrections(
    conn: Connection, cache: Cache, store_id: int, version: int, typed: Sequence[str]
) -> dict[str, list[str]]:
    """corrections(), through the cache."""
    found: dict[str, list[str]] = {}
    missing: list[str] = []
    for word in typed:
        hit = cache.get(("corrections", store_id, version, word))
        if hit is None:
            missing.append(word)
        else:
            found[word] = list(hit)
    if missing:
        fixes = corrections(conn, store_id=store_id, typed=missing)
        for word in missing:
            found[word] = fixes.get(word, [])
            cache.put(("corrections", store_id, version, word), tuple(found[word]))
    return found


# ---------------------------------------------------------------- search


def search_products(
    conn: Connection,
    *,
    store_id: int,
    query: str,
    prefix: bool,
    limit: int,
    offset: int = 0,
    exclude: Sequence[str] = (),
) -> tuple[list[str], int]:
    """Product ids of one page of matches, best first, and the number of all matches
    (both without the excluded products).

    With `prefix` (predictive search) every word of two or more characters also
    matches the words it begins; without it (full search) words match whole words
    only. Either way long words forgive one typo. Predictive answers are cached (see
    the caches above): a shopper's box asks the same prefixes as the last shopper's.
    """
    typed = list(dict.fromkeys(words(query)))[:MAX_QUERY_WORDS]
    if not typed:
        return [], 0
    state = _state(conn, store_id)
    cache = _cache(conn.engine)
    excluded = sorted(set(exclude))
    asked = (store_id, state.version, tuple(typed), prefix)
    plan = _Plan(conn, cache, state, asked)
    try:
        if prefix:
            return _predictive(plan, limit, offset, excluded)
        ids, total = _page(plan.ranking(excluded), limit, offset)
        if total is None:
            total = plan.count() - (plan.ranking().count_among(excluded) if excluded else 0)
        return ids, total
    finally:
        plan.save()


def _predictive(plan: _Plan, limit: int, offset: int, excluded: list[str]) -> tuple[list[str], int]:
    """A page of the query's answer as cached (without exclusions: see the caches), with
    the excluded products taken out of the page and of the count."""
    need = offset + limit + len(excluded)
    stem = ("answer", *plan.asked, plan.state.popularity)
    deeper = (plan.cache.get((*stem, d)) for d in PREDICTIVE_DEPTHS if d >= need)
    hit = next((found for found in deeper if found is not None), None)
    if hit is None:
        depth = _depth(need)
        found, total = _page(plan.ranking(), depth, 0)
        hit = (tuple(found), plan.count() if total is None else total)
        plan.cache.put((*stem, depth), hit, weight=len(found) + 1)
    read, matches = hit
    skip = set(excluded)
    ids = [pid for pid in read if pid not in skip]
    total = matches - (len(read) - len(ids))
    if excluded and len(read) < matches:  # not every match was read: count the others
        seen = set(read)
        unread = [pid for pid in excluded if pid not in seen]
        total -= plan.ranking().count_among(unread) if unread else 0
    return ids[offset : offset + limit], total


class _Plan:
    """What one query's rankings share: its terms (the typo corrections through the
    cache), what they learn of the catalogue (kept in the cache by `save`) and the count
    of all its matches (through the cache)."""

    def __init__(
        self, conn: Connection, cache: Cache, state: _State, asked: tuple[Any, ...]
    ) -> None:
        self.conn, self.cache, self.state, self.asked = conn, cache, state, asked
        self.store_id, _, self.typed, self.prefix = asked
        self._terms: list[Term] | None = None
        self._known_key = ("known", self.store_id, state.version, self.typed, self.prefix)
        self.known: dict[Any, Any] = dict(cache.get(self._known_key) or {})
        self._learnt = len(self.known)

    def ranking(self, exclude: list[str] | None = None) -> _Ranking:
        if self._terms is None:
            long_words = [w for w in self.typed if len(w) >= TYPO_MIN and not _has_digit(w)]
            version, typos = self.state.version, long_words[:MAX_TYPO_WORDS]
            fixes = _corrections(self.conn, self.cache, self.store_id, version, typos)
            self._terms = [
                Term(w, self.prefix and len(w) >= PREFIX_MIN, tuple(fixes.get(w, ())))
                for w in self.typed
            ]
        kind = _SqliteRanking if self.conn.dialect.name == "sqlite" else _PostgresRanking
        ranking = kind(self.conn, self.store_id, self.state.documents, exclude or [], self._terms)
        ranking.known = self.known
        return ranking

    def count(self) -> int:
        """All matches in stock, the excluded too."""
        total = self.cache.get(("count", *self.asked))
        if total is None:
            total = self.ranking().count()
            self.cache.put(("count", *self.asked), total)
        return int(total)

    def save(self) -> None:
        if len(self.known) != self._learnt:
            self.cache.put(self._known_key, self.known)


# ---------------------------------------------------------------- popularity


def popularity_changes(conn: Connection, *, store_id: int) -> list[dict[str, Any]]:
    """Documents whose units sold or views differ from the recorded ones (a read only)."""
    sold = (
        select(order_lines.c.product_id, func.sum(order_lines.c.quantity).label("n"))
        .where(order_lines.c.store_id == store_id)
        .group_by(order_lines.c.product_id)
        .subquery("sold")
    )
    seen = (
        select(events.c.product_id, func.count().label("n"))
        .where(events.c.store_id == store_id, events.c.kind == "view")
        .group_by(events.c.product_id)
        .subquery("seen")
    )
    d = search_documents
    sales, views = func.coalesce(sold.c.n, 0), func.coalesce(seen.c.n, 0)
    query = (
        select(d.c.doc_id, sales.label("sales"), views.label("views"))
        .outerjoin(sold, sold.c.product_id == d.c.product_id)
        .outerjoin(seen, seen.c.product_id == d.c.product_id)
        .where(d.c.store_id == store_id, (d.c.sales != sales) | (d.c.views != views))
    )
    return [
        {"b_doc_id": row.doc_id, "b_sales": int(row.sales), "b_views": int(row.views)}
        for row in conn.execute(query)
    ]


def save_popularity(
    conn: Connection, *, store_id: int, changes: Sequence[dict[str, Any]], now: int
) -> None:
    d = search_documents
    if changes:
        conn.execute(
            update(d)
            .where(d.c.doc_id == bindparam("b_doc_id"))
            .values(sales=bindparam("b_sales"), views=bindparam("b_views")),
            list(changes),
        )
    statement = upsert(conn, search_popularity).values(store_id=store_id, refreshed_at=now)
    conn.execute(
        statement.on_conflict_do_update(index_elements=["store_id"], set_={"refreshed_at": now})
    )


def popularity_refreshed_at(conn: Connection, *, store_id: int) -> int | None:
    p = search_popularity
    at = conn.execute(select(p.c.refreshed_at).where(p.c.store_id == store_id)).scalar()
    return None if at is None else int(at)


# ---------------------------------------------------------------- the searches log


def search_row(
    *,
    store_id: int,
    ts: int,
    api: str,
    query: str,
    hits: int,
    visitor_mode: str,
    visitor_id: str | None,
    session: str | None,
) -> dict[str, Any]:
    """One row of `searches`, ready for a (batched) INSERT."""
    return {
        "store_id": store_id,
        "ts": ts,
        "api": api,
        "query": query[:200],
        "normalised": normalise_query(query),
        "hits": hits,
        "visitor_mode": visitor_mode,
        "visitor_id": visitor_id,
        "session": session,
    }


def forget_searches(conn: Connection, *, store_id: int, visitor_ids: Sequence[str]) -> int:
    """Erase these visitors' searches (for privacy/forget, as their events are erased)."""
    if not visitor_ids:
        return 0
    erase = delete(searches).where(
        searches.c.store_id == store_id, searches.c.visitor_id.in_(list(visitor_ids))
    )
    return int(conn.execute(erase).rowcount)


# ---------------------------------------------------------------- migration

_FTS_COLUMNS = "name_terms, label_terms, body_terms"
_SQLITE_DDL = [
    f"CREATE VIRTUAL TABLE search_fts USING fts5({_FTS_COLUMNS}, "
    "content='search_texts', content_rowid='doc_id', "
    "tokenize='unicode61 remove_diacritics 2', prefix='2 3')",
    "CREATE TRIGGER search_texts_ai AFTER INSERT ON search_texts BEGIN "
    f"INSERT INTO search_fts (rowid, {_FTS_COLUMNS}) "
    "VALUES (new.doc_id, new.name_terms, new.label_terms, new.body_terms); END",
    "CREATE TRIGGER search_texts_ad AFTER DELETE ON search_texts BEGIN "
    f"INSERT INTO search_fts (search_fts, rowid, {_FTS_COLUMNS}) "
    "VALUES ('delete', old.doc_id, old.name_terms, old.label_terms, old.body_terms); END",
    f"CREATE TRIGGER search_texts_au AFTER UPDATE OF {_FTS_COLUMNS} ON search_texts BEGIN "
    f"INSERT INTO search_fts (search_fts, rowid, {_FTS_COLUMNS}) "
    "VALUES ('delete', old.doc_id, old.name_terms, old.label_terms, old.body_terms); "
    f"INSERT INTO search_fts (rowid, {_FTS_COLUMNS}) "
    "VALUES (new.doc_id, new.name_terms, new.label_terms, new.body_terms); END",
]


def _tsvector(expression: str, weight: str | None = None) -> str:
    vector = f"to_tsvector('simple'::regconfig, clerk_search_unaccent({expression}))"
    return f"setweight({vector}, '{weight}')" if weight else vector


def _postgres_ddl(conn: Connection) -> list[str]:
    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
    schema = conn.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'unaccent'"
    ).scalar_one()
    where = conn.dialect.identifier_preparer.quote(schema)
    head = f"{_tsvector('name_terms', 'A')} || {_tsvector('label_terms', 'B')}"
    everything = _tsvector("name_terms || ' ' || label_terms || ' ' || body_terms")
    return [
        # unaccent() is only STABLE (its dictionary could change); stored columns need
        # an IMMUTABLE function, and the rules do not change under a running index.
        "CREATE OR REPLACE FUNCTION clerk_search_unaccent(text) RETURNS text "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
        f"AS $$ SELECT {where}.unaccent('{where}.unaccent'::regdictionary, $1) $$",
        "ALTER TABLE search_texts "
        f"ADD COLUMN head_tsv tsvector GENERATED ALWAYS AS ({head}) STORED, "
        f"ADD COLUMN all_tsv tsvector GENERATED ALWAYS AS ({everything}) STORED",
        "CREATE INDEX ix_search_texts_all_tsv ON search_texts USING gin (all_tsv)",
    ]


def migrate(conn: Connection) -> None:
    """Migration step: the search tables, the engine's full-text index, existing products."""
    metadata.create_all(
        conn,
        tables=[search_documents, search_texts, search_vocabulary, search_popularity, searches],
    )
    ddl = _SQLITE_DDL if conn.dialect.name == "sqlite" else _postgres_ddl(conn)
    for statement in ddl:
        conn.exec_driver_sql(statement)
    for store_id in conn.scalars(select(products.c.store_id).distinct()).all():
        reindex_store(conn, store_id=store_id)


def migrate_ranking(conn: Connection) -> None:
    """Migration step 5: the documents in ranking order (for walks, see above) and the
    catalogue versions (for the caches), counted from the documents there are."""
    include = " INCLUDE (doc_id)" if conn.dialect.name == "postgresql" else ""
    conn.exec_driver_sql(
        "CREATE INDEX ix_search_documents_popularity ON search_documents "
        f"(store_id, sales DESC, views DESC, product_id, stock){include}"
    )
    metadata.create_all(conn, tables=[search_catalogue])
    conn.execute(
        search_catalogue.insert().from_select(
            ["store_id", "version", "documents"],
            select(
                search_documents.c.store_id, literal(1), func.count().label("documents")
            ).group_by(search_documents.c.store_id),
        )
    )
