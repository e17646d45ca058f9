"""Subscription fields: `memoryAdded`, a session's memories as they are added, resumable from a
memories cursor without a gap or a duplicate (app.store.following)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import strawberry

from app.errors import SubscriberTooSlow
from app.store.following import FellBehind, MemoryFollower
from schema.context import Context
from schema.pagination import MEMORIES, Edge
from schema.types import Info, Memory


async def _edges(follower: MemoryFollower, context: Context) -> AsyncIterator[Edge[Memory]]:
    try:
        async for memory in follower:
            # Each event is resolved like a request of its own: nothing cached by an earlier
            # one (a session's metadata, say) may have stayed true.
            context.renew_loaders()
            node = Memory.from_doc(memory, context)
            yield Edge(cursor=MEMORIES.cursor((memory.seq,)), node=node)
    except FellBehind as behind:
        resume_after = MEMORIES.cursor((behind.last_seq,))
        raise SubscriberTooSlow(
            "this subscription fell too far behind the memories being added and was ended; "
            f'subscribe again with after: "{resume_after}" (extensions.resumeAfter) to '
            "receive every memory since the last one it was sent",
            resume_after=resume_after,
        ) from None


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "The memories added to a live session, in order, each with its memories cursor. "
            "With `after` (a memories cursor), first every stored memory after it, then the new "
            "ones, with no gap and no duplicate between the two; without it, only memories "
            "added from now on. Ends when the session is deleted."
        )
    )
    async def memory_added(
        self, info: Info, session_id: str, after: str | None = None
    ) -> AsyncIterator[Edge[Memory]]:
        start = MEMORIES.decode(after, "after")[0] if after is not None else None
        follower = await info.context.store.memories.follow(session_id, after=start)
        return _edges(follower, info.context)
