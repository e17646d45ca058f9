"""The embedded store's sweeper: it hard-deletes what MongoDB's TTL indexes would, since the
embedded store has none."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from app.auth import OPEN
from app.clock import utc_now
from app.periodic import Periodic
from app.startup import Readiness
from app.store import PurgeCounts, Store

logger = logging.getLogger("memql.purge")


class Sweeper:
    """Every `interval` seconds, deletes what the TTL indexes of `app.indexes.index_specs` would:
    documents deleted more than `db.purge_after_seconds` ago.

    For the embedded store only, which has no TTL index: on MongoDB the server's TTL monitor
    does this work for every memql process at once.
    """

    def __init__(
        self, store: Store, *, interval: float, readiness: Readiness | None = None
    ) -> None:
        self.db = store.db
        self.store = store.for_viewer(OPEN)
        self.grace = timedelta(seconds=self.db.purge_after_seconds)
        self.interval = interval
        # A failed sweep is logged; the next one deletes whatever it missed.
        self.periodic = Periodic(
            self.sweep,
            interval=interval,
            name="memql-purge-sweeper",
            failed=lambda: logger.exception("purge sweep failed"),
            readiness=readiness,
        )

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

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self.periodic.task

    def start(self) -> None:
        self.periodic.start()
        logger.info(
            "embedded store: deleted documents are purged %d s after their deletion, "
            "checked every %g s",
            self.db.purge_after_seconds,
            self.interval,
        )

    async def stop(self) -> None:
        """Let a sweep in progress finish, then end the task."""
        await self.periodic.stop()
