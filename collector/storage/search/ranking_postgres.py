"""PostgreSQL's ranking: tsquery conditions on search_texts' stored tsvectors for the
rank tiers, each level counted up to "enough" matches to choose walks or joins (see
paging.py), and all matches ranked in one pass when no level is dense."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from . import paging
from .paging import _AVAILABLE, _RANKING, Term, _Ranking, _Tier


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
        self.enough = min(
            paging.PG_DENSE_MAX, max(paging.PG_DENSE_MIN, documents // paging.PG_WALK_PER_RESULT)
        )

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
        cap = paging.PG_WALK_PER_RESULT * need
        if dense and cap <= paging.PG_WALK_MAX:
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
        # MATERIALIZED: ranked where the texts are read, before the join and the sort.
        return f"WITH m AS MATERIALIZED ({self._ranked()})", self._joined("m")

    def match_from(self) -> str:
        # OFFSET 0: as MATERIALIZED above, the texts ranked before the join.
        return self._joined(f"({self._ranked()} OFFSET 0) AS m")

    @staticmethod
    def _joined(m: str) -> str:
        return f"{m} JOIN search_documents AS d ON d.doc_id = m.doc_id"

    def _ranked(self) -> str:
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
        return (
            f"SELECT t.doc_id, {rank} AS rank FROM search_texts AS t"
            f" WHERE t.all_tsv @@ {self.every}"
        )
