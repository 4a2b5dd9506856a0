"""Typos: the strings one edit away from a query word, looked up in the store's
vocabulary (search_vocabulary) in one indexed query, most common first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ARRAY, Connection, String, bindparam, select, text

from ..schema import VOCABULARY_MAX, search_vocabulary

# A typo is tolerated in query words of TYPO_MIN..VOCABULARY_MAX-1 characters, so
# the vocabulary needs the words one edit away: VOCABULARY_MIN..VOCABULARY_MAX
# (VOCABULARY_MAX is in schema.py: the length of search_vocabulary.word).
TYPO_MIN = 5
VOCABULARY_MIN = TYPO_MIN - 1
MAX_VARIANTS = 20  # per word, the most common variants found


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
