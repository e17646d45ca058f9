"""On MongoDB, what tells a process's subscribers of every process's writes: one change stream
per process over `memories` inserts and the `sessions` updates that end subscriptions (deleted,
or given to another user), its resume token kept across reconnections; where change streams
are unavailable (a standalone mongod), polling the watched sessions instead.

Every process runs one, so each of N processes behind a load balancer delivers every memory to
its own subscribers. What the feed may have missed (a resume token too old to resume from)
makes every subscriber read what is stored again (`Broadcaster.resync`), so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from pymongo.errors import OperationFailure, PyMongoError

from app.broadcaster import Broadcaster
from app.db import MEMORIES, SESSIONS, Collection, Database, Document
from app.documents import MemoryDoc
from app.startup import Readiness, describe_failure
from app.store.filters import any_of
from app.store.lifecycle import LIVE
from app.store.search import SEARCH_TERMS

logger = logging.getLogger("memql.live")

# Server error codes: change streams need a replica set or a sharded cluster; and the oplog no
# longer holds the resume token's position, or the stream cannot be resumed at all.
CHANGE_STREAMS_UNSUPPORTED = frozenset({40573})
CANNOT_RESUME = frozenset({280, 286})

FEED = "live updates (change stream)"
"""The feed's name in /readyz's reasons."""
RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 5.0
POLL_BATCH = 500
"""Watched sessions one polling query asks about."""

PIPELINE: list[Document] = [
    {
        "$match": {
            "$or": [
                {"ns.coll": MEMORIES, "operationType": "insert"},
                {
                    "ns.coll": SESSIONS,
                    "operationType": "update",
                    "$or": [
                        {"updateDescription.updatedFields.deletedAt": {"$exists": True}},
                        {"updateDescription.updatedFields.userId": {"$exists": True}},
                    ],
                },
            ]
        }
    }
]
"""Every memory inserted (each process hands on those of the sessions it watches: filtering
here would mean a new stream for each new subscription), and each session deleted or given to
another user."""


class ChangeStream(Protocol):
    """What memql reads of motor's change stream."""

    async def __aenter__(self) -> ChangeStream: ...

    async def __aexit__(self, _type: Any, _value: Any, _traceback: Any) -> None: ...

    def __aiter__(self) -> ChangeStream: ...

    async def __anext__(self) -> Mapping[str, Any]: ...


Watch = Callable[..., ChangeStream]
"""`watch(pipeline, full_document=…, resume_after=…)` of motor's database."""


class ChangeFeed:
    """Publishes to `broadcaster` what `watch` reports, reopening the stream where it stopped
    after a failure; falls back to a `PollingFeed` where change streams are unsupported."""

    def __init__(
        self,
        watch: Watch,
        memories: Collection,
        sessions: Collection,
        broadcaster: Broadcaster,
        *,
        poll_seconds: float,
        hosts: str = "MongoDB",
        readiness: Readiness | None = None,
    ) -> None:
        self.watch = watch
        self.readiness = readiness
        """Told while the stream fails (/readyz shows it), until it is open again."""
        self.hosts = hosts
        self.memories = memories
        self.sessions = sessions
        self.broadcaster = broadcaster
        self.poll_seconds = poll_seconds
        self.resume_token: Mapping[str, Any] | None = None
        self.polling: PollingFeed | None = None
        self.task: asyncio.Task[None] | None = None

    @classmethod
    def of(
        cls,
        db: Database,
        broadcaster: Broadcaster,
        *,
        poll_seconds: float,
        readiness: Readiness | None = None,
    ) -> ChangeFeed:
        return cls(
            db.db.watch,
            db.memories,
            db.sessions,
            broadcaster,
            poll_seconds=poll_seconds,
            hosts=db.hosts,
            readiness=readiness,
        )

    def handle(self, change: Mapping[str, Any]) -> None:
        """Publish one change event."""
        collection = change.get("ns", {}).get("coll")
        document = change.get("fullDocument")
        if collection == MEMORIES and document is not None:
            self.broadcaster.memories_added(
                document["sessionId"], [MemoryDoc.from_mongo(dict(document))]
            )
        elif collection == SESSIONS and document is not None:
            updated = change.get("updateDescription", {}).get("updatedFields", {})
            if "deletedAt" in updated:
                self.broadcaster.session_deleted(document["sessionId"])
            elif "userId" in updated:
                self.broadcaster.session_given_to(document["sessionId"], updated["userId"])

    async def follow_stream(self) -> None:
        """Read the stream until it fails; the caller reopens it."""
        async with self.watch(
            PIPELINE, full_document="updateLookup", resume_after=self.resume_token
        ) as stream:
            if self.readiness is not None:
                self.readiness.recovered(FEED)
            async for change in stream:
                self.handle(change)
                self.resume_token = change["_id"]

    async def run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                await self.follow_stream()
                delay = RETRY_FIRST_SECONDS
            except OperationFailure as failure:
                if failure.code in CHANGE_STREAMS_UNSUPPORTED:
                    logger.warning(
                        "this MongoDB has no change streams (a standalone mongod?): live "
                        "updates poll the watched sessions every %g s instead; run a replica "
                        "set for updates as they happen",
                        self.poll_seconds,
                    )
                    self.polling = PollingFeed(
                        self.memories, self.sessions, self.broadcaster, self.poll_seconds
                    )
                    await self.polling.run()
                    return
                if failure.code in CANNOT_RESUME:
                    logger.warning(
                        "the change stream cannot resume where it stopped (code %s): it "
                        "starts afresh and every subscriber reads what is stored again",
                        failure.code,
                    )
                    self.resume_token = None
                    self.broadcaster.resync()
                    continue
                self._failed(failure, delay)
            except PyMongoError as failure:
                self._failed(failure, delay)
            except Exception as failure:
                # Live updates must outlive a bug here: logged, and the stream reopened.
                logger.exception("the change stream failed unexpectedly, reopening it")
                if self.readiness is not None:
                    self.readiness.failed(FEED, describe_failure(failure, self.hosts))
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _failed(self, failure: PyMongoError, delay: float) -> None:
        why = describe_failure(failure, self.hosts)
        logger.warning("the change stream failed, reopening it in %g s: %s", delay, why)
        if self.readiness is not None:
            self.readiness.failed(FEED, why)

    def start(self, opened: asyncio.Event | None = None) -> None:
        """Run the feed in a task; once `opened` is set, when given (the database answered:
        until then start-up retries it, and says so once an attempt)."""

        async def run() -> None:
            if opened is not None:
                await opened.wait()
            await self.run()

        self.task = asyncio.create_task(run(), name="memql-change-feed")

    async def stop(self) -> None:
        if self.task is None:
            return
        task, self.task = self.task, None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class PollingFeed:
    """Every `interval` seconds, the memories added to each watched session since the last
    poll, and the sessions deleted or given to another user: two queries a poll, whatever the
    number of subscribers. A session seen for the first time makes its subscribers read what
    is stored (their own start may precede the poll's)."""

    def __init__(
        self,
        memories: Collection,
        sessions: Collection,
        broadcaster: Broadcaster,
        interval: float,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.memories = memories
        self.sessions = sessions
        self.broadcaster = broadcaster
        self.interval = interval
        self.sleep = sleep
        self.last_seq: dict[str, int] = {}
        self.owners: dict[str, str | None] = {}

    async def poll(self) -> None:
        watched = self.broadcaster.watched()
        for gone in set(self.last_seq) - watched:
            del self.last_seq[gone]
            self.owners.pop(gone, None)
        if not watched:
            return
        sessions = await self._read_sessions(sorted(watched))
        new = set()
        for raw in sessions:
            session_id = raw["sessionId"]
            if raw.get("deletedAt") is not None:
                self.broadcaster.session_deleted(session_id)
                continue
            if session_id not in self.last_seq:
                new.add(session_id)
                self.last_seq[session_id] = raw.get("memorySeq", 0)
            elif self.owners.get(session_id) != raw.get("userId"):
                self.broadcaster.session_given_to(session_id, raw.get("userId"))
            self.owners[session_id] = raw.get("userId")
        if new:
            self.broadcaster.resync(new)
        await self._publish_added([s for s in self.last_seq if s not in new])

    async def _read_sessions(self, session_ids: Sequence[str]) -> list[Document]:
        found: list[Document] = []
        for start in range(0, len(session_ids), POLL_BATCH):
            batch = session_ids[start : start + POLL_BATCH]
            found += await self.sessions.find(
                {"sessionId": any_of(batch)},
                {"sessionId": 1, "memorySeq": 1, "userId": 1, "deletedAt": 1},
            ).to_list(None)
        return found

    async def _publish_added(self, session_ids: Sequence[str]) -> None:
        for start in range(0, len(session_ids), POLL_BATCH):
            batch = session_ids[start : start + POLL_BATCH]
            clauses = [{"sessionId": s, "seq": {"$gt": self.last_seq[s]}} for s in batch]
            match = {"$or": clauses} if len(clauses) > 1 else clauses[0]
            raws = await self.memories.find({**match, **LIVE}, {SEARCH_TERMS: 0}).to_list(None)
            by_session: dict[str, list[MemoryDoc]] = {}
            for raw in sorted(raws, key=lambda raw: raw["seq"]):
                by_session.setdefault(raw["sessionId"], []).append(MemoryDoc.from_mongo(raw))
            for session_id, added in by_session.items():
                self.last_seq[session_id] = added[-1].seq
                self.broadcaster.memories_added(session_id, added)

    async def run(self) -> None:
        while True:
            try:
                await self.poll()
            except PyMongoError as failure:
                logger.warning("polling for live updates failed: %s", failure)
            await self.sleep(self.interval)
