"""The embedded store's sweeper: it hard-deletes what MongoDB's TTL indexes would, since the
embedded store has none."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from app.auth import OPEN
from app.clock import utc_now
from app.store import PurgeCounts, Store

logger = logging.getLogger("memql.purge")


class Sweeper:
    """Every `interval` seconds, deletes what the TTL indexes of `app.db.index_specs` would:
    documents deleted more than `db.purge_after_seconds` ago.

    For the embedded store only, which has no TTL index: on MongoDB the server's TTL monitor
    does this work for every memql process at once.
    """

    def __init__(self, store: Store, *, interval: float) -> None:
        self.db = store.db
        self.store = store.for_viewer(OPEN)
        self.grace = timedelta(seconds=self.db.purge_after_seconds)
        self.interval = interval
        self.task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def sweep(self) -> PurgeCounts:
        counts = await self.store.purge_deleted(deleted_before=utc_now() - self.grace)
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
