"""A per-session write lease, kept in the session document, so that what readers see of a
session's memories is always a prefix of its `seq` order.

`addMemory` reserves its `seq` numbers with one `$inc` and inserts the memories with a second
call. Without the lease, a call reserving seq 4 could insert before a call that reserved seq 2,
and a reader paging with `after` past seq 4 would never see 2 and 3. With it, a reservation
waits until the previous writer of the session has inserted (or its lease has run out, if it
died), and the session's deletes wait likewise.

The lease is measured by the query's clock (`app.clock.QueryClock`): on MongoDB the server's
`$$NOW`, compared in the filter with `$expr` and added to in a pipeline update, so a memql host
whose clock runs ahead does not take every lease for expired. Whatever proceeds on a session
whose lease ran out takes the lease over or clears it, so a writer stalled past its lease (a
failover, a long pause) learns at `release` that it lost it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo import ReturnDocument

from app.clock import QueryClock
from app.db import Collection, Document
from app.errors import SessionBusy

LEASE = timedelta(seconds=10)
WAIT_SECONDS = 30.0
_FIRST_DELAY = 0.002
_MAX_DELAY = 0.05
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def free(clock: QueryClock) -> Document:
    """The filter of sessions no writer holds: none took the lease, or it has run out."""
    return {"$expr": {"$lt": [{"$ifNull": ["$writerUntil", _NEVER]}, clock.now()]}}


def taking(writer: ObjectId | None, clock: QueryClock) -> Document:
    """The pipeline stage that gives the lease to `writer`, or, with None, clears one that ran
    out (so that the writer who held it finds out at `release`)."""
    if writer is None:
        return {"$set": {"writer": None, "writerUntil": None}}
    return {"$set": {"writer": writer, "writerUntil": clock.after(LEASE)}}


async def update_when_free(
    sessions: Collection,
    match: Document,
    pipeline: list[Document],
    clock: QueryClock,
    *,
    session_id: str,
    projection: Document | None = None,
) -> Document | None:
    """Apply the update `pipeline` (which takes or clears the lease, see `taking`) to the
    session `match` finds as soon as no writer holds it, and return the updated document; None
    when `match` finds no session at all. SESSION_BUSY when other writers keep it longer than
    WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    delay = _FIRST_DELAY
    while True:
        updated: Document | None = await sessions.find_one_and_update(
            {**match, **free(clock)},
            pipeline,
            projection=projection,
            return_document=ReturnDocument.AFTER,
        )
        if updated is not None:
            return updated
        if await sessions.find_one(match, {"_id": 1}) is None:
            return None
        if time.monotonic() > deadline:
            raise SessionBusy(
                f"session {session_id!r} is busy: other writes to it held it for over "
                f"{WAIT_SECONDS:g} s. Nothing was changed; send the request again."
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_DELAY)


async def release(sessions: Collection, session: ObjectId, writer: ObjectId) -> bool:
    """Hand the lease back; False when `writer` had lost it: it ran out, and another writer or
    a delete went ahead on the session."""
    result = await sessions.update_one(
        {"_id": session, "writer": writer}, {"$unset": {"writer": "", "writerUntil": ""}}
    )
    return result.matched_count == 1


async def void_all(sessions: Collection) -> int:
    """End every lease held: after a restart no writer from before it is alive to release one
    (the embedded store restoring its snapshot). Returns how many sessions had one."""
    result = await sessions.update_many(
        {"writer": {"$ne": None}}, {"$unset": {"writer": "", "writerUntil": ""}}
    )
    return result.modified_count
