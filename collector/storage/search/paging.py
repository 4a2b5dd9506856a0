"""One page of matches: the query's terms, its rank tiers, what the engines' rankings
share (`_Ranking`) and `_page`, which reads the tiers best first until the page is full.
The settings of walks and joins are here, for both engines (ranking_sqlite and
ranking_postgres read them as paging.NAME, so that a test can set them in one place)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, TextClause, bindparam, text


@dataclass(frozen=True)
class Term:
    """A query word: matched as typed (as a prefix when `prefix`), or as one of `variants`."""

    word: str
    prefix: bool
    variants: tuple[str, ...] = ()


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

    def match_from(self) -> str:
        """FROM items without a WITH clause (for a statement built with SQLAlchemy, which
        narrows and orders the matches): each match as m (doc_id, rank) and its
        search_documents row as d; parameters in self.params."""
        raise NotImplementedError

    def bound(self, sql: str) -> TextClause:
        """`sql` as a text clause with the parameters it names bound (for a statement built
        with SQLAlchemy around it)."""
        used = set(_PARAMETER.findall(sql))
        given = {"store": self.store_id, **self.params}
        return text(sql).bindparams(**{k: v for k, v in given.items() if k in used})


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
