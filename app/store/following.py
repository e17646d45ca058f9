"""Following a session: its memories after a given `seq`, first those stored, then each one as
it is added, with no gap and no duplicate between the two.

The follower subscribes to the broadcaster before it reads anything, so a memory stored while
it reads is either in what it reads or among the events that wait for it, and often both: it
sends memories in `seq` order and drops any event at or before the last `seq` it sent. A `seq`
further ahead than the next one (a feed that missed events, an `addMemory` that reserved numbers
and failed) makes it read what is stored since the last one sent, so it never skips a memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from app.broadcaster import Subscription
from app.documents import MemoryDoc
from app.store.keyset import KeysetQuery, PageRequest

REPLAY_PAGE = 100
"""Stored memories read per query while catching up."""


class FellBehind(Exception):
    """The subscription's buffer overflowed: the follower ended after the memory `last_seq`."""

    def __init__(self, last_seq: int) -> None:
        super().__init__(f"fell behind after seq {last_seq}")
        self.last_seq = last_seq


class MemoryFollower:
    """The memories of one session after `last_seq`, in order; iterate it once. It ends when the
    session is deleted (or given to a user the caller may not see), raises FellBehind when it
    falls behind, and gives its subscription back however it ends."""

    def __init__(
        self,
        stored: KeysetQuery[MemoryDoc],
        subscription: Subscription,
        last_seq: int,
        *,
        replay: bool,
        still_visible: Callable[[], Awaitable[bool]],
    ) -> None:
        self.stored = stored
        self.still_visible = still_visible
        """Whether the caller may still see the session, read from the store: asked after each
        page read and before any of it is sent, since a page may hold memories written after
        the session was given to another user, before the feed tells of the hand-off."""
        self.subscription = subscription
        self.last_seq = last_seq
        """The `seq` of the last memory sent (or where following started)."""
        self.replay = replay
        subscription.sent_through = max(subscription.sent_through, last_seq)
        subscription.catching_up = replay

    def __aiter__(self) -> AsyncIterator[MemoryDoc]:
        return self._follow()

    async def _follow(self) -> AsyncIterator[MemoryDoc]:
        subscription = self.subscription
        try:
            if self.replay:
                async for memory in self._catch_up():
                    yield memory
            while not subscription.ended:
                memories = await subscription.take()
                if subscription.stale:
                    subscription.stale = False
                    async for memory in self._catch_up():
                        yield memory
                for memory in memories:
                    if subscription.ended:
                        return
                    if memory.seq <= self.last_seq:
                        continue
                    if memory.seq == self.last_seq + 1:
                        self.last_seq = subscription.sent_through = memory.seq
                        yield memory
                        continue
                    async for stored in self._catch_up():
                        yield stored
                if subscription.fell_behind:
                    raise FellBehind(self.last_seq)
                if subscription.ended:
                    return
        finally:
            subscription.close()

    async def _catch_up(self) -> AsyncIterator[MemoryDoc]:
        """Every memory stored after the last one sent, a page at a time."""
        self.subscription.catching_up = True
        try:
            while True:
                page = await self.stored.page(
                    PageRequest(limit=REPLAY_PAGE, after=(self.last_seq,))
                )
                if page.items and not await self.still_visible():
                    self.subscription.ended = True
                    return
                for memory in page.items:
                    # Each memory is sent only while the session is the caller's: a hand-off
                    # the feed told of while this page waited ends it here.
                    if self.subscription.ended:
                        return
                    self.last_seq = self.subscription.sent_through = memory.seq
                    yield memory
                if not page.has_more:
                    return
        finally:
            self.subscription.catching_up = False
