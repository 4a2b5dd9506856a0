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
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    column,
    delete,
    func,
    select,
    text,
    update,
)

from . import catalogue
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
    """Index every product of a store from the products table (for the migration)."""
    done = 0
    query = select(products).where(products.c.store_id == store_id).order_by(products.c.id)
    batch: list[dict[str, Any]] = []
    for row in conn.execute(query):
        batch.append(catalogue.product_dict(row))
        if len(batch) == CHUNK:
            index_products(conn, store_id=store_id, items=batch)
            done, batch = done + len(batch), []
    index_products(conn, store_id=store_id, items=batch)
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
    query = select(v.c.word, v.c.products).where(v.c.store_id == store_id, v.c.word.in_(wanted))
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


def _matches(conn: Connection, terms: Sequence[Term]) -> Any:
    """(doc_id, rank) of every document matching the terms, once each: rank = 3 x (needs
    a typo) + field tier (0 name, 1 name or labels, 2 anywhere). This is the only SQL
    that differs by engine: SQLite unites disjoint FTS5 queries, one per rank, as its
    index alone answers them; PostgreSQL reads each match's row once and ranks it."""
    fuzzy = any(t.variants for t in terms)
    if conn.dialect.name == "sqlite":
        ranks = _fts5_ranks(terms, False) + (_fts5_ranks(terms, True) if fuzzy else [])
        sql = " UNION ALL ".join(
            f"SELECT rowid AS doc_id, {rank} AS rank "
            f"FROM search_fts WHERE search_fts MATCH :m{rank}"
            for rank in range(len(ranks))
        )
        params = {f"m{rank}": match for rank, match in enumerate(ranks)}
    else:
        exact = "CASE WHEN head_tsv @@ {n0} THEN 0 WHEN head_tsv @@ {l0} THEN 1 ELSE 2 END"
        typo = "CASE WHEN head_tsv @@ {n1} THEN 3 WHEN head_tsv @@ {l1} THEN 4 ELSE 5 END"
        rank = f"CASE WHEN all_tsv @@ {{a0}} THEN {exact} ELSE {typo} END" if fuzzy else exact
        params = {}
        for level in (0, 1) if fuzzy else (0,):
            params[f"n{level}"] = _tsquery(terms, bool(level), "A")
            params[f"l{level}"] = _tsquery(terms, bool(level), "AB")
            params[f"a{level}"] = _tsquery(terms, bool(level))
        sql = f"SELECT doc_id, {rank} AS rank FROM search_texts WHERE all_tsv @@ {{a{int(fuzzy)}}}"
        sql = sql.format(**{name: _pg_query(name) for name in params})
        # A short query on a busy server: parallel workers only slow it down.
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
    union = text(sql).bindparams(**params)
    return union.columns(column("doc_id", Integer), column("rank", Integer)).subquery("matches")


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
    """Product ids of one page of matches, best first, and the number of all matches.

    With `prefix` (predictive search) every word of two or more characters also
    matches the words it begins; without it (full search) words match whole words
    only. Either way long words forgive one typo.
    """
    typed = list(dict.fromkeys(words(query)))[:MAX_QUERY_WORDS]
    if not typed:
        return [], 0
    long_words = [w for w in typed if len(w) >= TYPO_MIN and not _has_digit(w)]
    fixes = corrections(conn, store_id=store_id, typed=long_words[:MAX_TYPO_WORDS])
    terms = [Term(w, prefix and len(w) >= PREFIX_MIN, tuple(fixes.get(w, ()))) for w in typed]
    matches = _matches(conn, terms)
    d = search_documents
    # SQLite, whose planner knows nothing of a MATCH's size, must not drive the join from
    # the store's index (all its products): "+ 0" hides it, so the matches come first.
    store = d.c.store_id + 0 if conn.dialect.name == "sqlite" else d.c.store_id
    where = [store == store_id, catalogue.available(d)]
    if exclude:
        where.append(d.c.product_id.not_in(list(exclude)))
    found = select(d.c.product_id).join_from(matches, d, d.c.doc_id == matches.c.doc_id)
    page = (
        found.add_columns(func.count().over().label("total"))
        .where(*where)
        .order_by(matches.c.rank, d.c.sales.desc(), d.c.views.desc(), d.c.product_id)
        .limit(limit)
        .offset(offset)
    )
    rows = conn.execute(page).all()
    if rows:
        return [row.product_id for row in rows], int(rows[0].total)
    if not offset:
        return [], 0
    total = conn.execute(found.with_only_columns(func.count()).where(*where)).scalar_one()
    return [], int(total)


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
