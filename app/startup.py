"""Opening the database while the server already answers: MongoDB is tried until it answers, with
backoff and one log line per attempt, then the indexes are built; `/readyz` says how far it got."""

from __future__ import annotations

import asyncio
import logging

from pymongo.errors import ConnectionFailure, PyMongoError

from app.db import Database, describe_connection_error, first_line

logger = logging.getLogger("memql.db")

# Seconds before the second attempt; each next wait doubles, up to the last.
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


class Readiness:
    """What keeps the server from being ready (None once ready) and what an operator should
    know while it serves (a TTL period collMod could not change, an unfit index)."""

    def __init__(self) -> None:
        self.blocker: str | None = "connecting to MongoDB"
        self.warnings: list[str] = []
        self.settled = asyncio.Event()
        """Set once opening is over: ready, or stopped by an index build that failed."""


async def open_database(db: Database, readiness: Readiness) -> None:
    """Wait for the database to answer, then make its indexes; runs until both are done, or
    until an index build fails for a reason other than a lost connection (which needs an
    operator: a duplicate key under a unique index, say)."""
    await _open(db, readiness)
    readiness.settled.set()


async def _open(db: Database, readiness: Readiness) -> None:
    delay = FIRST_RETRY_SECONDS
    attempt = 1
    while True:
        reason = await db.unreachable()
        if reason is None:
            readiness.blocker = "building indexes"
            try:
                report = await db.ensure_indexes()
            except ConnectionFailure as exc:  # a failover mid-build: start again
                reason = describe_connection_error(exc, db.hosts)
            except PyMongoError as exc:
                readiness.blocker = (
                    f"building indexes failed: {first_line(exc)}; fix it, then run "
                    "`memql indexes` or restart memql"
                )
                logger.error("%s", readiness.blocker)
                return
            else:
                readiness.warnings = report.warnings
                readiness.blocker = None
                return
        readiness.blocker = reason
        logger.warning(
            "MongoDB is not available (attempt %d): %s (trying again in %g s)",
            attempt,
            reason,
            delay,
        )
        await asyncio.sleep(delay)
        attempt += 1
        delay = min(delay * 2, MAX_RETRY_SECONDS)
