"""Memory search: the live memories in the caller's scope that contain a word of the query,
ranked by BM25 (bm25s) among themselves, best first, in pages that later writes do not shift.

Finding: every memory stores its distinct words (app.search_terms) in `searchTerms`, written
when it is added (its content never changes); MongoDB finds them by the multikey index on
(searchTerms, sessionId, deletedAt), the embedded store reads the scoped sessions' live
memories from its per-session index and tests each. Ranking: the matches are scored by bm25s
(Lucene's idf), the idf counted over the matches alone; ties go to the newer memory, then to
the larger uuid.

Paging: the first page fixes its "as of" bound, the newest `createdAt` among the matches, and
every later page considers only memories created by then: memories added meanwhile neither
appear nor change a score, so pages neither skip nor repeat. A memory deleted meanwhile simply
vanishes (and leaves the idf of the others a little changed).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import bm25s
from bm25s.tokenization import Tokenized

from app.clock import as_utc
from app.db import Collection, Document
from app.documents import MemoryDoc
from app.errors import BadUserInput
from app.search_terms import search_terms, words
from app.store.filters import any_of
from app.store.keyset import SortKey, SortOrder
from app.store.lifecycle import LIVE
from app.validation import check_encodable, check_identifier

if TYPE_CHECKING:
    from app.store.memories import MemoryStore

MAX_SEARCH_TEXT = 1000
"""The longest `text` a search takes, in characters."""

SEARCH_TERMS = "searchTerms"
"""The field of a memory holding its distinct words."""

BY_SCORE = SortOrder(
    ("query", "asOf", "score", "createdAt", "seq", "_id"),
    (str, datetime, float, datetime, int, str),
)
"""A search hit's cursor key: the search it belongs to (a digest of its words and scope), the
first page's as-of bound, then its place in the ranking (score, createdAt, seq and uuid, each
descending)."""

RANK_IN_THREAD = 2000
"""Matches above which the ranking runs in a worker thread."""

_PROJECTION = {"content": 1, "sessionId": 1, "seq": 1, "createdAt": 1}


def check_search_text(text: str, field: str = "text") -> list[str]:
    """The distinct words of a query's `text`, in order; BAD_USER_INPUT for an empty or
    whitespace-only text, or one over MAX_SEARCH_TEXT characters."""
    if not text.strip():
        raise BadUserInput(f"{field} must hold at least one word", field=field)
    if len(text) > MAX_SEARCH_TEXT:
        raise BadUserInput(
            f"{field} is {len(text)} characters; the limit is {MAX_SEARCH_TEXT}", field=field
        )
    check_encodable(text, field)
    return list(dict.fromkeys(words(text)))


@dataclass(frozen=True, slots=True)
class SearchHit:
    memory: MemoryDoc
    score: float
    key: SortKey


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[SearchHit]
    has_more: bool
    """More hits follow the page."""
    has_before: bool
    """Hits precede the page (it started after a cursor that others precede)."""
    total: int
    """Every hit of the search, as of its bound."""


@dataclass(frozen=True, slots=True)
class _Ranked:
    raw: Document
    score: float
    place: tuple[float, datetime, int, str]


def _digest(query: list[str], session_id: str | None, user_id: str | None) -> str:
    payload = json.dumps([query, session_id, user_id], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


OTHER_WORD = ""
"""What every word of a memory that is not in the query counts as, for the ranking."""


def bm25_scores(documents: list[list[str]], query: list[str]) -> list[float]:
    """bm25s's score of each document (its words, in order) for the query's distinct words.

    bm25s is given each document's words as ids where every word not in the query is one
    other word: a document's length and its counts of the query's words, all BM25 reads, are
    as they were, so the scores are too (tests/test_search.py compares them with an index of
    every word), and bm25s builds no matrix for the words no one asked for."""
    wanted = {word: index for index, word in enumerate(query)}
    other = len(wanted)
    ids = [[wanted.get(word, other) for word in document] for document in documents]
    retriever = bm25s.BM25()
    retriever.index(Tokenized(ids=ids, vocab={**wanted, OTHER_WORD: other}), show_progress=False)
    return [float(score) for score in retriever.get_scores(query)]


def _rank(raws: list[Document], query: list[str]) -> list[_Ranked]:
    """The memories by BM25 score over them (bm25s, Lucene's idf: positive for every memory
    holding a query word), best first; ties newest first, then by uuid."""
    if not raws:
        return []
    raws = sorted(raws, key=lambda raw: raw["_id"])
    scores = bm25_scores([words(raw["content"]) for raw in raws], query)
    ranked = [
        _Ranked(raw, score, (score, as_utc(raw["createdAt"]), raw["seq"], raw["_id"]))
        for raw, score in zip(raws, scores, strict=True)
    ]
    ranked.sort(key=lambda hit: hit.place, reverse=True)
    return ranked


class MemorySearch:
    """One caller's memory searches (MemoryStore.search)."""

    def __init__(self, memories: MemoryStore) -> None:
        self.memories = memories
        self.collection = memories.collection
        self.access = memories.access
        self.sessions = memories.sessions

    async def scope(self, session_id: str | None, user_id: str | None) -> list[str] | None:
        """The sessionIds searched; None for every session (an admin without a scope). A user
        token is confined to its own sessions, and refused another's as every route refuses
        it, whether or not it exists."""
        if user_id is not None:
            check_identifier(user_id, "userId")
            self.access.check_acting_for(user_id, "userId")
        if session_id is not None:
            session = await self.sessions.get(session_id)
            if session is None or (user_id is not None and session.user_id != user_id):
                raise self.access.missing("session", session_id, "sessionId")
            return [session_id]
        if user_id is None and self.access.admin:
            return None
        return await self.sessions.live_ids(user_id)

    async def page(
        self,
        text: str,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        limit: int,
        after: SortKey | None = None,
    ) -> SearchPage:
        query = check_search_text(text)
        digest = _digest(query, session_id, user_id)
        if after is not None and after[0] != digest:
            raise BadUserInput(
                "after is a cursor of another search: page with the cursors of this one",
                field="after",
            )
        sessions = await self.scope(session_id, user_id)
        empty = SearchPage(hits=[], has_more=False, has_before=False, total=0)
        if not query or sessions == []:
            return empty
        match: Document = {SEARCH_TERMS: any_of(query), **LIVE}
        if sessions is not None:
            match["sessionId"] = any_of(sessions)
        if after is not None:
            match["createdAt"] = {"$lte": after[1]}
        raws = await self.collection.find(match, _PROJECTION).to_list(None)
        if sessions is None:
            raws = await self._of_live_sessions(raws)
        # A large ranking runs in a thread, so that it does not hold the event loop.
        if len(raws) > RANK_IN_THREAD:
            ranked = await asyncio.to_thread(_rank, raws, query)
        else:
            ranked = _rank(raws, query)
        if not ranked:
            return empty
        as_of = after[1] if after is not None else max(hit.place[1] for hit in ranked)
        following = ranked
        if after is not None:
            cursor = after[2:]
            following = [hit for hit in ranked if hit.place < cursor]
        chosen = following[:limit]
        docs = await self._memories([hit.raw["_id"] for hit in chosen])
        hits = [
            SearchHit(docs[hit.raw["_id"]], hit.score, (digest, as_of, *hit.place))
            for hit in chosen
            if hit.raw["_id"] in docs
        ]
        return SearchPage(
            hits=hits,
            has_more=len(following) > limit,
            has_before=len(following) < len(ranked),
            total=len(ranked),
        )

    async def _of_live_sessions(self, raws: list[Document]) -> list[Document]:
        """Those of `raws` in a live session (an admin's search of everything)."""
        if not raws:
            return raws
        live = await self.sessions.get_many({raw["sessionId"] for raw in raws})
        kept = {session.session_id for session in live}
        return [raw for raw in raws if raw["sessionId"] in kept]

    async def _memories(self, uuids: list[str]) -> dict[str, MemoryDoc]:
        if not uuids:
            return {}
        raws = await self.collection.find(
            {"_id": any_of(uuids), **LIVE}, {SEARCH_TERMS: 0}
        ).to_list(None)
        return {raw["_id"]: MemoryDoc.from_mongo(raw) for raw in raws}


BACKFILL_CONCURRENCY = 32
"""Memories the backfill updates at once (one `update_one` each: pymongo's bulk requests carry
options mongomock cannot take)."""


async def backfill_search_terms(collection: Collection) -> int:
    """Give every memory stored without `searchTerms` (by a memql before search, or imported
    from such a one) its words, so that search finds it; returns how many were given them."""
    missing = collection.find({SEARCH_TERMS: None}, {"content": 1, "sessionId": 1})
    done = 0
    batch: list[Document] = []
    async for raw in missing:
        batch.append(raw)
        if len(batch) >= BACKFILL_CONCURRENCY:
            done += await _give_terms(collection, batch)
            batch = []
    return done + await _give_terms(collection, batch)


async def _give_terms(collection: Collection, raws: list[Document]) -> int:
    # The sessionId in the filter is the shard key of a sharded `memories`.
    await asyncio.gather(
        *(
            collection.update_one(
                {"_id": raw["_id"], "sessionId": raw.get("sessionId")},
                {"$set": {SEARCH_TERMS: search_terms(raw.get("content") or "")}},
            )
            for raw in raws
        )
    )
    return len(raws)
