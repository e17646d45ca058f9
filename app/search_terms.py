"""The words memory search matches: Unicode NFKD, combining marks dropped, casefolded, each run of
word characters (`\\w+`, Unicode) a word. No stemming, no stop words. Stored memories and query
text are split by the same function, so "Café" finds "cafe" and "ROOIBOS" finds "rooibos"."""

from __future__ import annotations

import re
import sys
import unicodedata
from typing import Any

_WORD = re.compile(r"\w+")


def normalised(text: str) -> str:
    if text.isascii():  # the common case, where NFKD changes nothing and casefold is lower
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return bare.casefold()


def words(text: str) -> list[str]:
    """The words of `text` in order, repeats kept (what ranking counts)."""
    return _WORD.findall(normalised(text))


def search_terms(text: str) -> list[str]:
    """The distinct words of `text`, sorted: what a memory stores in `searchTerms`. Interned,
    so that the embedded store keeps one copy of each word, not one per memory."""
    return sorted(sys.intern(word) for word in set(words(text)))


def shared(terms: list[Any]) -> list[Any]:
    """A stored `searchTerms` with each word interned (as `search_terms` makes them): for a
    snapshot's memories, decoded with a string of their own for every word."""
    return [sys.intern(term) if isinstance(term, str) else term for term in terms]
