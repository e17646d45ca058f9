"""Opening the database while the server already answers: MongoDB is tried until it answers, with
backoff and one log line per attempt, then the indexes are built; `/readyz` says how far it got,
and what a background task (the change feed, the purge sweeper) is failing at."""

from __future__ import annotations

import asyncio
import logging

from pymongo.errors import ConnectionFailure, PyMongoError

from app.db import Database, describe_connection_error, first_line

logger = logging.getLogger("memql.db")

# Seconds before the second attempt; each next wait doubles, up to the last.
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


def describe_failure(error: BaseException, hosts: str) -> str:
    """One line for an operator: what the database said, or the exception's type and message."""
    if isinstance(error, PyMongoError):
        return describe_connection_error(error, hosts)
    return f"{type(error).__name__}: {first_line(error)}"


class Readiness:
    """What keeps the server from being ready (None once ready), what a background task is
    failing at now, and what an operator should know while it serves (a TTL period collMod
    could not change, an unfit index)."""

    def __init__(self) -> None:
        self.blocker: str | None = "connecting to MongoDB"
        self.warnings: list[str] = []
        self.failing: dict[str, str] = {}
        """Background task → why its last attempt failed; gone once an attempt succeeds."""
        self.settled = asyncio.Event()
        """Set once the database has answered and a first index build has ended (built, or
        failed and being retried): what the change feed waits for."""

    @property
    def reasons(self) -> list[str]:
        """Why the server is not ready; empty when it is."""
        blocker = [self.blocker] if self.blocker else []
        return blocker + [f"{task}: {why}" for task, why in self.failing.items()]

    def failed(self, task: str, why: str) -> None:
        self.failing[task] = why

    def recovered(self, task: str) -> None:
        self.failing.pop(task, None)


async def open_database(db: Database, readiness: Readiness) -> None:
    """Wait for the database to answer, then make its indexes; each failure is logged in one
    line, shown by `/readyz` and tried again after a growing wait, until both are done."""
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
            except Exception as exc:
                # A duplicate key under a unique index needs an operator; anything else may
                # pass. Either way the build is tried again and /readyz says why it failed.
                readiness.blocker = (
                    f"building indexes failed: {describe_failure(exc, db.hosts)}; fix it, then "
                    "run `memql indexes` or wait for the next attempt"
                )
                readiness.settled.set()
                logger.error(
                    "%s (attempt %d, trying again in %g s)", readiness.blocker, attempt, delay
                )
            else:
                readiness.warnings = report.warnings
                readiness.blocker = None
                readiness.settled.set()
                return
        if reason is not None:
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
