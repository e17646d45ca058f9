"""Live updates within one process: the broadcaster hands each memory added to a session, and
each end of a session, to that session's subscriptions, each through a bounded buffer.

One feed writes to it: the store itself on the embedded store, or on MongoDB the process's
change stream (or its polling fallback, app.store.change_feed), which sees every process's
writes. Publishing never waits: a subscription that cannot keep up is marked as fallen behind
and its buffer dropped, so one slow reader never delays the writer or the other readers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from app.documents import MemoryDoc


class Subscription:
    """The events of one session for one subscriber, in the order they were published; made by
    `Broadcaster.subscribe` and given back with `close`."""

    def __init__(
        self,
        broadcaster: Broadcaster,
        session_id: str,
        limit: int,
        may_see: Callable[[str | None], bool],
    ) -> None:
        self.broadcaster = broadcaster
        self.session_id = session_id
        self.limit = limit
        self.may_see = may_see
        """Whether the subscriber may still see a session belonging to this userId."""
        self.pending: deque[MemoryDoc] = deque()
        self.ended = False
        """The session was deleted, or given to a user the subscriber may not see."""
        self.fell_behind = False
        """More than `limit` memories waited at once: the buffer was dropped."""
        self.stale = False
        """The feed may have missed events: what is stored must be read again."""
        self.catching_up = False
        """Its follower is reading what is stored: an overflow then only makes it read again."""
        self.sent_through = 0
        """The `seq` its follower has sent up to: events at or before it are repeats (on
        MongoDB the change stream may bring a write's events after the follower read it from
        the store), dropped here rather than counted against the buffer."""
        self._wake = asyncio.Event()

    def _add(self, memories: Sequence[MemoryDoc]) -> None:
        if self.ended or self.fell_behind:
            return
        memories = [memory for memory in memories if memory.seq > self.sent_through]
        if not memories:
            return
        if len(self.pending) + len(memories) > self.limit:
            # While the follower reads the store, what overflows is stored already (the feed
            # hears of a memory once it is written) and is read on the next catch-up: on
            # MongoDB the change stream may bring a large write's events after the follower
            # started reading it. Only a subscriber that falls behind live events is ended.
            if self.catching_up:
                self.stale = True
            else:
                self.fell_behind = True
            self.pending.clear()
        else:
            self.pending.extend(memories)
        self._wake.set()

    def _end(self) -> None:
        self.ended = True
        self._wake.set()

    def _mark_stale(self) -> None:
        self.stale = True
        self._wake.set()

    async def take(self) -> list[MemoryDoc]:
        """The memories published since the last call, once there are any or the
        subscription ended, fell behind or went stale (then perhaps none)."""
        while not (self.pending or self.ended or self.fell_behind or self.stale):
            self._wake.clear()
            await self._wake.wait()
        taken = list(self.pending)
        self.pending.clear()
        return taken

    def close(self) -> None:
        self.broadcaster._remove(self)


class Broadcaster:
    """The subscriptions of one process, by sessionId."""

    def __init__(self, *, buffer: int) -> None:
        self.buffer = buffer
        self._by_session: dict[str, set[Subscription]] = {}

    def subscribe(
        self, session_id: str, may_see: Callable[[str | None], bool] = lambda _: True
    ) -> Subscription:
        subscription = Subscription(self, session_id, self.buffer, may_see)
        self._by_session.setdefault(session_id, set()).add(subscription)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        subscriptions = self._by_session.get(subscription.session_id)
        if subscriptions is None:
            return
        subscriptions.discard(subscription)
        if not subscriptions:
            del self._by_session[subscription.session_id]

    def watched(self) -> set[str]:
        """The sessionIds that have subscriptions."""
        return set(self._by_session)

    def __len__(self) -> int:
        return sum(len(subscriptions) for subscriptions in self._by_session.values())

    def memories_added(self, session_id: str, memories: Sequence[MemoryDoc]) -> None:
        """Memories of one session just stored, in `seq` order."""
        for subscription in self._by_session.get(session_id, ()):
            subscription._add(memories)

    def session_deleted(self, session_id: str) -> None:
        for subscription in self._by_session.get(session_id, ()):
            subscription._end()

    def session_given_to(self, session_id: str, user_id: str | None) -> None:
        """The session now belongs to `user_id`: subscribers who may not see it are ended."""
        for subscription in self._by_session.get(session_id, ()):
            if not subscription.may_see(user_id):
                subscription._end()

    def resync(self, session_ids: Iterable[str] | None = None) -> None:
        """The feed may have missed events (of these sessions, or of all): every subscriber
        reads what is stored again."""
        wanted = self._by_session.keys() if session_ids is None else session_ids
        for session_id in list(wanted):
            for subscription in self._by_session.get(session_id, ()):
                subscription._mark_stale()
