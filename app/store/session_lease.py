"""A session's write lease as the memories store takes it (app.store.writelock is how): for an
`addMemory`, with seq numbers reserved; for deleting a session's memories, with the seq they are
deleted through noted. A lease is a typed value, never the session's raw document."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bson import ObjectId
from pymongo import ReturnDocument

from app.clock import QueryClock, utc_now
from app.db import Collection, Document
from app.documents import SessionDoc
from app.store.access import Access
from app.store.lifecycle import LIVE
from app.store.writelock import release, taking, update_when_free
from app.validation import check_identifier

# The largest seq (BSON's int64): what a purged session's memories were deleted through.
MAX_SEQ = 2**63 - 1
# Set in the update that deletes a session or its memories, before they are marked, so that a
# writer that lost its lease and inserted late knows which of its memories the delete meant.
MEMORIES_DELETED_THROUGH_SEQ: Document = {
    "memoriesDeletedThrough": {
        "$max": [{"$ifNull": ["$memoriesDeletedThrough", 0]}, {"$ifNull": ["$memorySeq", 0]}]
    }
}


@dataclass(frozen=True, slots=True)
class Lease:
    """A session's write lease, held by `holder`: the session as taking the lease left it, and
    its `seq`, the last seq number handed out then (the last one reserved, for an addMemory)."""

    session: SessionDoc
    holder: ObjectId
    seq: int

    @classmethod
    def of(cls, raw: Document, holder: ObjectId) -> Lease:
        """The lease `holder` took, from the session document the taking update returned."""
        return cls(SessionDoc.from_mongo(raw), holder, raw.get("memorySeq", 0))


class SessionLease:
    """The sessions' write leases, taken for the caller (`access`): only on sessions it may
    write to. `shown` makes the session of an addMemory's lease, as the sessions store makes
    each session it shows (noting that the caller has seen it)."""

    def __init__(
        self,
        sessions: Collection,
        access: Access,
        clock: QueryClock,
        shown: Callable[[Document], SessionDoc],
    ) -> None:
        self.collection = sessions
        self.access = access
        self.clock = clock
        self.shown = shown

    def _own(self, session_id: str) -> Document:
        return {"sessionId": session_id, **self.access.belonging()}

    async def reserve(self, session_id: str, count: int) -> Lease:
        """Take the session's write lease and reserve `count` consecutive seq numbers (the
        lease's `seq` is the last); an unknown session is created (belonging to a user token's
        user), a deleted one undeleted. `release` hands the lease back."""
        holder = ObjectId()
        reserve = [
            taking(holder, self.clock),
            {
                "$set": {
                    "memorySeq": {"$add": [{"$ifNull": ["$memorySeq", 0]}, count]},
                    "updatedAt": utc_now(),
                }
            },
            # Undeletes. (The `$unset` stage is the same to MongoDB; mongomock lacks it.)
            {"$project": {"deletedAt": 0}},
        ]
        match = self._own(session_id)
        raw = await update_when_free(
            self.collection, match, reserve, self.clock, session_id=session_id
        )
        if raw is None:
            await self._create_if_new(session_id)
            raw = await update_when_free(
                self.collection, match, reserve, self.clock, session_id=session_id
            )
            if raw is None:  # given to another user in between
                raise self.access.denied("session", session_id, "sessionId")
        return Lease(self.shown(raw), holder, raw.get("memorySeq", 0))

    async def hold_for_deleting(self, session_id: str) -> Lease:
        """The live session's lease, noted as having its memories deleted up to its seq: every
        memory up to it is stored, and none after it until `release`."""
        check_identifier(session_id, "sessionId")
        holder = ObjectId()
        raw = await update_when_free(
            self.collection,
            {**self._own(session_id), **LIVE},
            [
                taking(holder, self.clock),
                {"$set": {"updatedAt": utc_now(), **MEMORIES_DELETED_THROUGH_SEQ}},
            ],
            self.clock,
            session_id=session_id,
        )
        if raw is None:
            raise self.access.missing("session", session_id, "sessionId")
        return Lease.of(raw, holder)

    async def give_back(self, lease: Lease, count: int) -> None:
        """Hand back the last `count` seq numbers `lease` reserved, while it is still held and
        none was handed out since: an addMemory that wrote nothing leaves no gap."""
        await self.collection.update_one(
            {"_id": lease.session.id, "writer": lease.holder, "memorySeq": lease.seq},
            {"$inc": {"memorySeq": -count}},
        )

    async def release(self, lease: Lease) -> bool:
        """Hand the lease back; False when it ran out and was lost (app.store.writelock)."""
        return await release(self.collection, lease.session.id, lease.holder)

    async def deleted_through(self, lease: Lease) -> int:
        """The highest seq a delete of the session or of its memories covered: memories up to
        it that are still live were written late, by a writer that lost its lease, and belong
        deleted. Every seq, when the session itself is gone (purged)."""
        raw = await self.collection.find_one(
            {"_id": lease.session.id}, {"memoriesDeletedThrough": 1}
        )
        if raw is None:
            return MAX_SEQ
        through: int = raw.get("memoriesDeletedThrough") or 0
        return through

    async def _create_if_new(self, session_id: str) -> None:
        """Create the session if it is new, touching nothing that exists; a user token creates
        it as its user's, and may not write to anyone else's."""
        now = utc_now()
        existing = await self.collection.find_one_and_update(
            {"sessionId": session_id},
            {
                "$setOnInsert": {
                    "userId": self.access.user_for_new(None),
                    "metadata": {},
                    "createdAt": now,
                    "updatedAt": now,
                    "memorySeq": 0,
                }
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if existing is None or not self.access.may_see(existing.get("userId")):
            raise self.access.denied("session", session_id, "sessionId")
