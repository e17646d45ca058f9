"""Hard deletion of soft-deleted documents (Zep's purge): on demand, and the embedded store's
sweeper that does what MongoDB's TTL indexes do."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.clock import utc_now
from app.db import MEMORIES, SESSIONS, USERS, Database, Document

logger = logging.getLogger("memql.purge")


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    users: int
    sessions: int
    memories: int

    @property
    def total(self) -> int:
        return self.users + self.sessions + self.memories


async def purge_deleted(db: Database, *, deleted_before: datetime | None = None) -> PurgeCounts:
    """Delete every soft-deleted document (or only those deleted before `deleted_before`)."""
    condition: Document = {"$ne": None} if deleted_before is None else {"$lt": deleted_before}
    counts = {}
    # Memories first: a session is never gone while memories that point to it remain.
    for name in (MEMORIES, SESSIONS, USERS):
        result = await db.collection(name).delete_many({"deletedAt": condition})
        counts[name] = result.deleted_count
    return PurgeCounts(users=counts[USERS], sessions=counts[SESSIONS], memories=counts[MEMORIES])


class Sweeper:
    """Every `interval` seconds, deletes what the TTL indexes of `app.db.index_specs` would:
    documents deleted more than `db.purge_after_seconds` ago.

    For the embedded store only, which has no TTL index: on MongoDB the server's TTL monitor
    does this work for every memql process at once.
    """

    def __init__(self, db: Database, *, interval: float) -> None:
        self.db = db
        self.grace = timedelta(seconds=db.purge_after_seconds)
        self.interval = interval
        self.task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def sweep(self) -> PurgeCounts:
        counts = await purge_deleted(self.db, deleted_before=utc_now() - self.grace)
        if counts.total:
            logger.info(
                "purged what was deleted over %d s ago: %d users, %d sessions, %d memories",
                self.db.purge_after_seconds,
                counts.users,
                counts.sessions,
                counts.memories,
            )
        return counts

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
            if self._stopping.is_set():
                return
            try:
                await self.sweep()
            except Exception:
                # The next sweep deletes whatever this one missed.
                logger.exception("purge sweep failed")

    def start(self) -> None:
        if self.task is not None:
            raise RuntimeError("the sweeper is already running")
        self._stopping.clear()
        self.task = asyncio.create_task(self._run(), name="memql-purge-sweeper")
        logger.info(
            "embedded store: deleted documents are purged %d s after their deletion, "
            "checked every %g s",
            self.db.purge_after_seconds,
            self.interval,
        )

    async def stop(self) -> None:
        """Let a sweep in progress finish, then end the task."""
        if self.task is None:
            return
        self._stopping.set()
        task, self.task = self.task, None
        await task
