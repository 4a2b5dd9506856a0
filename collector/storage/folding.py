"""Text folding, the same for products, queries and the log of searches: lower case,
accents and common ligatures removed (Café -> cafe, Straße -> strasse, Ærø -> aero),
cut into words of letters and digits (see search/__init__.py for what is indexed)."""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

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
