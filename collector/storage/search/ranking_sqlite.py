"""SQLite's ranking: FTS5 queries for the rank tiers, and each tier read by a join or a
walk down the ranking, whichever the full-text index's count of its matches says is
cheaper (see paging.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from . import paging
from .paging import _AVAILABLE, _RANKING, Term, _Ranking, _Tier


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
        if matches >= paging.WALK_MIN_MATCHES and paging.WALK_GAIN * matches > expected:
            cap = max(paging.WALK_MIN_CAP, paging.WALK_CAP * expected)
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

    def match_from(self) -> str:
        return self.ranked_matches()[1]
