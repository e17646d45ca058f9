"""Memory search's connection: the memories matching a text, best first, each edge with its
score (the store's search, app.store.search, ranks them and keeps their pages stable)."""

from __future__ import annotations

import strawberry

from app.store.keyset import PageRequest
from app.store.search import BY_SCORE
from schema.pagination import PageInfo, Paging
from schema.types import Info, Memory

SEARCH = Paging("memorySearch", BY_SCORE, forward_only=True)


@strawberry.type(description="A memory matching a search, with its relevance.")
class MemorySearchEdge:
    score: float = strawberry.field(
        description="BM25 relevance among the matching memories: higher is better, always > 0."
    )
    cursor: str
    node: Memory


@strawberry.type(description="Memories matching a search, best first.")
class MemorySearchConnection:
    edges: list[MemorySearchEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(
        description="All memories matching the search (as of its first page)."
    )


async def search_memories(
    info: Info, text: str, session_id: str | None, user_id: str | None, page: PageRequest
) -> MemorySearchConnection:
    context = info.context
    found = await context.store.memories.search(
        text, session_id=session_id, user_id=user_id, limit=page.limit, after=page.after
    )
    edges = [
        MemorySearchEdge(
            score=hit.score,
            cursor=SEARCH.cursor(hit.key),
            node=Memory.from_doc(hit.memory, context),
        )
        for hit in found.hits
    ]
    return MemorySearchConnection(
        edges=edges,
        page_info=PageInfo(
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
            has_next_page=found.has_more,
            has_previous_page=found.has_before,
        ),
        total_count=found.total,
    )
