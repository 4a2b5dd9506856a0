"""The store's words in memory: for each word of its search texts, the documents that
hold it, so that a query's rank tiers (for its match set, matchset.py) are worked out by
slicing and intersecting those lists instead of asking the full-text index (at 100,000
products a broad word like 'jacket' matches 11,000 documents: 13 ms of FTS5 and 20 ms
of PostgreSQL's GIN index and heap reads, against about a millisecond here).

Built from `search_texts` (the folded words the engines index: name_terms, label_terms,
body_terms, split on their single spaces), the first time a store's match set is read
at a catalogue version with no index (columns.Columns.word_index), and kept with the
store's columns. Each word's documents are one run of a single array: those with the
word in the name first, then those with it in the brand or categories but not the
name, then those with it only in the description; so "in the name" is the first slice,
"in name or labels" the first two, "anywhere" all of it. The tiers are the engines'
(ranking_sqlite.py, ranking_postgres.py: `ranked_matches`, which tests/test_words.py
compares them with): every query word (as typed, as a prefix when predictive, or, at
the typo level, as one of its corrections) in the name; else every word in the name or
labels; else anywhere; then the same with corrections, without the documents that
matched as typed.

A catalogue change does not rebuild it: the columns updated from the change carry the
index on with the documents changed since it was built (`Current.stale`: before and
after the change). Those are left out of its answers, and their texts as they are now
are read by key into a small index of their own (`Current.fresh`, once per version),
whose tiers are added. Past STALE_MAX of them, or when the columns are read whole
again, the index is built again when next needed.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from itertools import filterfalse
from typing import Any

from sqlalchemy import Connection, select

from ..schema import search_documents, search_texts
from .paging import Term

STALE_MAX = 2_000  # documents changed since the index was built, read apart
CHUNK = 500  # documents read by key per statement
BYTES_PER_POSTING = 4
BYTES_PER_WORD = 100  # the word, its dict slot and its bounds


class Words:
    """Each word's documents (see above), all in one array (`docs`: no object per word
    for the cyclic garbage collector to walk); word k's are docs[b[0]:b[3]] where
    b = bounds[4k:4k+4], with it in the name up to b[1], in the name or labels up to
    b[2]; `at[word]` is k."""

    __slots__ = ("docs", "bounds", "at", "vocabulary")

    def __init__(self, docs: array[int], bounds: array[int], at: dict[str, int]) -> None:
        self.docs, self.bounds, self.at = docs, bounds, at
        self.vocabulary = sorted(at)  # for prefixes

    @property
    def weight(self) -> int:
        return BYTES_PER_POSTING * len(self.docs) + BYTES_PER_WORD * len(self.at)

    def postings(self, word: str) -> tuple[array[int], array[int], array[int]]:
        """The documents with the word in the name; in the labels, not the name; only
        in the description."""
        k = self.at.get(word)
        if k is None:
            empty = array(self.docs.typecode)
            return empty, empty, empty
        start, name, labels, end = self.bounds[4 * k : 4 * k + 4]
        docs = self.docs
        return docs[start:name], docs[name:labels], docs[labels:end]

    def _lexemes(self, term: Term, fuzzy: bool) -> list[str]:
        """The indexed words a query word stands for (at the typo level, its corrections
        too)."""
        found = [term.word]
        if term.prefix:
            words, found = self.vocabulary, []
            at = bisect_left(words, term.word)
            while at < len(words) and words[at].startswith(term.word):
                found.append(words[at])
                at += 1
        return found + list(term.variants) if fuzzy else found

    def _fields(self, lexemes: Iterable[str]) -> tuple[set[int], set[int], set[int]]:
        """The documents with one of these words in the name, in the name or labels,
        anywhere."""
        name: set[int] = set()
        labels: set[int] = set()
        every: set[int] = set()
        for word in lexemes:
            in_name, in_labels, in_body = self.postings(word)
            name.update(in_name)
            labels.update(in_name, in_labels)
            every.update(in_name, in_labels, in_body)
        return name, labels, every

    def _level(self, terms: Sequence[Term], fuzzy: bool) -> tuple[set[int], set[int], set[int]]:
        """Documents with every word in the name, in the name or labels, anywhere."""
        fields = [self._fields(self._lexemes(term, fuzzy)) for term in terms]
        name, labels, every = fields[0]
        for more in fields[1:]:
            name &= more[0]
            labels &= more[1]
            every &= more[2]
        return name, labels, every

    def tiers(self, terms: Sequence[Term]) -> list[Sequence[int]]:
        """The documents of each rank tier, as ranked_matches ranks them (of
        any stock; the tiers of the typo level only when a word has corrections)."""
        fuzzy = any(t.variants for t in terms)
        tiers: list[Sequence[int]]
        if len(terms) == 1 and not terms[0].prefix:  # one word as typed: its slices
            tiers = list(self.postings(terms[0].word))
            if fuzzy:  # its corrections' documents, each in its best field, less the word's
                seen = set().union(*tiers)
                fields = [self.postings(variant) for variant in terms[0].variants]
                for field in range(3):
                    tier: list[int] = []
                    for held in fields:
                        new = list(filterfalse(seen.__contains__, held[field]))
                        seen.update(new)
                        tier += new
                    tiers.append(tier)
            return tiers
        name, labels, every = self._level(terms, False)
        tiers = [list(name), list(labels - name), list(every - labels)]
        if fuzzy:
            name1, labels1, every1 = self._level(terms, True)
            tiers += [
                list(name1 - every),
                list(labels1 - name1 - every),
                list(every1 - labels1 - every),
            ]
        return tiers


def build(rows: Iterable[tuple[int, str, str, str]]) -> Words:
    """The index of these documents' texts (doc_id, name, labels, body terms)."""
    in_name: dict[str, list[int]] = {}
    in_labels: dict[str, list[int]] = {}
    in_body: dict[str, list[int]] = {}
    top = 0
    for doc, name, labels, body in rows:
        top = max(top, doc)
        name_words = set(name.split())
        label_words = set(labels.split()) - name_words
        body_words = set(body.split()) - name_words - label_words
        for words, into in ((name_words, in_name), (label_words, in_labels), (body_words, in_body)):
            for word in words:
                held = into.get(word)
                if held is None:
                    into[word] = [doc]
                else:
                    held.append(doc)
    docs: array[int] = array("i" if top < 2**31 else "q")
    bounds: array[int] = array("q")
    at: dict[str, int] = {}
    for word in in_name.keys() | in_labels.keys() | in_body.keys():
        at[word] = len(at)
        bounds.append(len(docs))
        docs.extend(in_name.pop(word, ()))
        bounds.append(len(docs))
        docs.extend(in_labels.pop(word, ()))
        bounds.append(len(docs))
        docs.extend(in_body.pop(word, ()))
        bounds.append(len(docs))
    return Words(docs, bounds, at)


def read(conn: Connection, store_id: int, docs: Sequence[int] | None = None) -> Words:
    """The index of the store's search texts as they are now (of these documents only,
    if given)."""
    d, t = search_documents, search_texts
    query = (
        select(t.c.doc_id, t.c.name_terms, t.c.label_terms, t.c.body_terms)
        .select_from(t.join(d, d.c.doc_id == t.c.doc_id))
        .where(d.c.store_id == store_id)
    )
    if docs is None:
        return build(conn.execute(query))
    rows: list[Any] = []
    for start in range(0, len(docs), CHUNK):
        rows += conn.execute(query.where(t.c.doc_id.in_(docs[start : start + CHUNK])))
    return build(rows)


class Current:
    """The store's words at a catalogue version: an index read at an earlier one, less
    the documents changed since (`stale`), plus those documents as they are now
    (`fresh`, read by key when first asked)."""

    __slots__ = ("index", "stale", "fresh")

    def __init__(self, index: Words, stale: frozenset[int] = frozenset()) -> None:
        self.index, self.stale = index, stale
        self.fresh: Words | None = None if stale else EMPTY

    def tiers(self, conn: Connection, store_id: int, terms: Sequence[Term]) -> list[Sequence[int]]:
        tiers = self.index.tiers(terms)
        if not self.stale:
            return tiers
        stale, now = self.stale, self.fresh_words(conn, store_id).tiers(terms)
        return [[*filterfalse(stale.__contains__, docs), *now[t]] for t, docs in enumerate(tiers)]

    def fresh_words(self, conn: Connection, store_id: int) -> Words:
        """The changed documents' words as they are now (read the first time)."""
        if self.fresh is None:
            self.fresh = read(conn, store_id, sorted(self.stale))
        return self.fresh

    def changed(self, docs: set[int]) -> Current | None:
        """These words after a change of these documents (None: too many changed)."""
        stale = self.stale | docs
        return Current(self.index, frozenset(stale)) if len(stale) <= STALE_MAX else None

    @property
    def weight(self) -> int:
        return self.index.weight


EMPTY = build(())
