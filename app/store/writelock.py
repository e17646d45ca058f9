"""A per-session write lock, kept in the session document, so that what readers see of a
session's memories is always a prefix of its `seq` order.

`addMemory` reserves its `seq` numbers with one `$inc` and inserts the memories with a second
call. Without the lock, a call reserving seq 4 could insert before a call that reserved seq 2,
and a reader paging with `after` past seq 4 would never see 2 and 3. With it, a reservation
waits until the previous writer of the session has inserted (or its lease has run out, if it
died), and the session's soft delete waits likewise, so no memory lands in a session after it
was deleted with the memories it had. The lease is written with the client's clock, so clocks
of memql processes must agree to within a fraction of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo import ReturnDocument

from app.clock import utc_now
from app.db import Collection, Document

LEASE = timedelta(seconds=10)
WAIT_SECONDS = 30.0
_FIRST_DELAY = 0.002
_MAX_DELAY = 0.05


class SessionBusy(RuntimeError):
    """A session stayed locked by other writers for longer than WAIT_SECONDS."""


def unlocked(now: datetime) -> Document:
    return {"$or": [{"writer": None}, {"writerUntil": {"$lt": now}}]}


def lock_fields(token: ObjectId, now: datetime) -> Document:
    return {"writer": token, "writerUntil": now + LEASE}


async def update_when_unlocked(
    sessions: Collection,
    match: Document,
    update: Callable[[datetime], Document],
    *,
    projection: Document | None = None,
) -> Document | None:
    """Apply `update(now)` to the session `match` finds as soon as no writer holds it, and
    return the updated document; None when `match` finds no session at all."""
    deadline = time.monotonic() + WAIT_SECONDS
    delay = _FIRST_DELAY
    while True:
        now = utc_now()
        updated: Document | None = await sessions.find_one_and_update(
            {"$and": [match, unlocked(now)]},
            update(now),
            projection=projection,
            return_document=ReturnDocument.AFTER,
        )
        if updated is not None:
            return updated
        if await sessions.find_one(match, {"_id": 1}) is None:
            return None
        if time.monotonic() > deadline:
            raise SessionBusy(f"session {match} stayed locked for {WAIT_SECONDS} s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_DELAY)


async def release(sessions: Collection, session: ObjectId, token: ObjectId) -> None:
    await sessions.update_one(
        {"_id": session, "writer": token}, {"$unset": {"writer": "", "writerUntil": ""}}
    )
