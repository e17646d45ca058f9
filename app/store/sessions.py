"""Sessions: create (or bring back), read, update with metadata merge, and soft delete."""

from __future__ import annotations

from collections.abc import Iterable

from bson import ObjectId
from pymongo import ReturnDocument

from app.clock import utc_now
from app.db import Database, Document
from app.documents import SessionDoc
from app.errors import AlreadyExists, NotFound
from app.metadata import JsonObject, check_stored_size, strip_nulls, validate_patch
from app.store.access import (
    forbid_other_user,
    forbid_reserved_metadata,
    no_access,
    owned_session,
    session_missing,
)
from app.store.keyset import ChildLists, KeysetQuery, any_of
from app.store.merge import update_merging_metadata
from app.store.writelock import update_when_unlocked
from app.validation import check_identifier

LIVE: Document = {"deletedAt": None}
ORDER = ("createdAt", "_id")


class SessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.collection = db.sessions

    async def _require_user(self, user_id: str) -> None:
        check_identifier(user_id, "userId")
        if await self.db.users.find_one({"userId": user_id, **LIVE}, {"_id": 1}) is None:
            raise NotFound(f"no user with userId {user_id!r}", field="userId")

    async def add(
        self,
        session_id: str,
        *,
        user_id: str | None = None,
        metadata: JsonObject | None = None,
        owner: str | None = None,
    ) -> SessionDoc:
        """Create a session; a soft-deleted one comes back with the new fields, its memories
        staying deleted. A user-confined caller (`owner`) creates sessions owned by itself."""
        check_identifier(session_id, "sessionId")
        forbid_other_user(owner, user_id, "userId")
        if metadata is not None:
            validate_patch(metadata)
            forbid_reserved_metadata(owner, metadata, "metadata")
        stored_metadata = strip_nulls(metadata or {})
        check_stored_size(stored_metadata)
        if owner is not None:
            user_id = owner  # the token vouches for its user, as addMemory does
        elif user_id is not None:
            await self._require_user(user_id)
        now = utc_now()
        new_id = ObjectId()
        fields = {"userId": user_id, "metadata": stored_metadata}
        raw = await self.collection.find_one_and_update(
            {"sessionId": session_id},
            {
                "$setOnInsert": {
                    "_id": new_id,
                    "sessionId": session_id,
                    **fields,
                    "createdAt": now,
                    "updatedAt": now,
                    "memorySeq": 0,
                }
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if raw is None:  # pragma: no cover - an upsert always returns a document
            raise RuntimeError("upsert returned nothing")
        if raw["_id"] == new_id:
            return SessionDoc.from_mongo(raw)
        if owner is not None and raw.get("userId") != owner:
            raise no_access("session", session_id, "sessionId")
        exists = AlreadyExists(
            f"a session with sessionId {session_id!r} already exists", field="sessionId"
        )
        if raw.get("deletedAt") is None:
            raise exists
        # memorySeq is kept, so new memories sort after the deleted ones and never reuse a seq.
        revived = await self.collection.find_one_and_update(
            {"_id": raw["_id"], "deletedAt": raw["deletedAt"]},
            {"$set": {**fields, "createdAt": now, "updatedAt": now}, "$unset": {"deletedAt": ""}},
            return_document=ReturnDocument.AFTER,
        )
        if revived is None:
            raise exists
        return SessionDoc.from_mongo(revived)

    async def get(self, session_id: str) -> SessionDoc | None:
        raw = await self.collection.find_one({"sessionId": session_id, **LIVE})
        return SessionDoc.from_mongo(raw) if raw else None

    async def get_many(self, session_ids: Iterable[str]) -> list[SessionDoc]:
        raws = await self.collection.find({"sessionId": any_of(session_ids), **LIVE}).to_list(None)
        return [SessionDoc.from_mongo(raw) for raw in raws]

    async def get_many_by_ids(self, ids: Iterable[ObjectId]) -> list[SessionDoc]:
        raws = await self.collection.find({"_id": any_of(ids), **LIVE}).to_list(None)
        return [SessionDoc.from_mongo(raw) for raw in raws]

    async def update(
        self,
        session_id: str,
        *,
        user_id: str | None = None,
        metadata: JsonObject | None = None,
        owner: str | None = None,
    ) -> SessionDoc:
        """Merge `metadata`, set `user_id` when given; like Zep, a deleted session is undeleted
        (its memories stay deleted)."""
        check_identifier(session_id, "sessionId")
        forbid_other_user(owner, user_id, "userId")
        if metadata is not None:
            validate_patch(metadata)
            forbid_reserved_metadata(owner, metadata, "metadata")
        if user_id is not None and owner is None:
            await self._require_user(user_id)
        changes: Document = {"updatedAt": utc_now()}
        if user_id is not None:
            changes["userId"] = user_id
        raw = await update_merging_metadata(
            self.collection,
            owned_session(session_id, owner),
            metadata,
            set_fields=changes,
            unset_fields=("deletedAt",),
        )
        if raw is None:
            raise session_missing(session_id, owner)
        return SessionDoc.from_mongo(raw)

    async def delete(self, session_id: str, *, owner: str | None = None) -> SessionDoc:
        """Soft-delete the session, then its memories."""
        check_identifier(session_id, "sessionId")
        raw = await update_when_unlocked(
            self.collection,
            {**owned_session(session_id, owner), **LIVE},
            lambda now: {"$set": {"deletedAt": now, "updatedAt": now}},
        )
        if raw is None:
            raise session_missing(session_id, owner)
        await delete_memories_up_to(self.db, [raw])
        return SessionDoc.from_mongo(raw)

    def list(
        self, user_id: str | None = None, *, owner: str | None = None
    ) -> KeysetQuery[SessionDoc]:
        forbid_other_user(owner, user_id, "userId")
        user_id = owner if owner is not None else user_id
        base = LIVE if user_id is None else {"userId": user_id, **LIVE}
        return KeysetQuery(self.collection, base, ORDER, SessionDoc.from_mongo)

    def of_users(self) -> ChildLists[str, SessionDoc]:
        """Users' live sessions, oldest first: pages of many users' at once."""
        return ChildLists(
            self.collection,
            "userId",
            LIVE,
            ORDER,
            SessionDoc.from_mongo,
            one_query=self.db.full_scans,
        )


async def delete_memories_up_to(db: Database, deleted_sessions: list[Document]) -> None:
    """Soft-delete the memories the just-deleted sessions held: those up to each session's
    memorySeq at its deletion. A memory added later (an addMemory that undeleted the session)
    has a higher seq and stays, whatever the clocks of the processes involved say."""
    cutoffs = [
        {"sessionId": raw["sessionId"], "seq": {"$lte": raw.get("memorySeq", 0)}}
        for raw in deleted_sessions
    ]
    for start in range(0, len(cutoffs), 500):
        await db.memories.update_many(
            {"$or": cutoffs[start : start + 500], **LIVE},
            {"$set": {"deletedAt": deleted_sessions[0]["deletedAt"]}},
        )
