"""Memories: append to a session (creating or undeleting it), read, merge metadata, delete."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument

from app.clock import utc_now
from app.db import Database, Document
from app.documents import MemoryDoc, SessionDoc
from app.errors import NotFound
from app.metadata import JsonObject, check_stored_size, strip_nulls, validate_patch
from app.roles import RoleType
from app.store.access import (
    forbid_reserved_metadata,
    no_access,
    owned_session,
    session_missing,
)
from app.store.keyset import ChildLists, KeysetQuery, any_of
from app.store.merge import update_merging_metadata
from app.store.writelock import lock_fields, release, update_when_unlocked
from app.validation import check_content, check_identifier, check_memory_count, check_role

LIVE: Document = {"deletedAt": None}
ORDER = ("seq",)


@dataclass(frozen=True, slots=True)
class NewMemory:
    """A memory as a client hands it to `MemoryStore.add`."""

    role: str
    content: str
    role_type: RoleType | None = None
    metadata: dict[str, Any] | None = None


def _check_new_memories(memories: Sequence[NewMemory], owner: str | None) -> list[JsonObject]:
    """Validate every memory before anything is written; return their stored metadata."""
    check_memory_count(len(memories), "memories")
    stored: list[JsonObject] = []
    for index, memory in enumerate(memories):
        field = f"memories[{index}]"
        check_role(memory.role, f"{field}.role")
        check_content(memory.content, f"{field}.content")
        metadata: JsonObject = {}
        if memory.metadata is not None:
            validate_patch(memory.metadata, f"{field}.metadata")
            forbid_reserved_metadata(owner, memory.metadata, f"{field}.metadata")
            metadata = strip_nulls(memory.metadata)
            check_stored_size(metadata, f"{field}.metadata")
        stored.append(metadata)
    return stored


class MemoryStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.collection = db.memories

    async def add(
        self, session_id: str, memories: Sequence[NewMemory], *, owner: str | None = None
    ) -> tuple[SessionDoc, list[MemoryDoc]]:
        """Append `memories` in order; an unknown session is created (owned by `owner`), a
        deleted one undeleted.

        One atomic `$inc` reserves a contiguous block of `seq` numbers, so concurrent calls never
        share a number and each call's memories stay together and in order; the session's write
        lock (app.store.writelock) makes each call's memories visible before the next call's.
        """
        check_identifier(session_id, "sessionId")
        metadata = _check_new_memories(memories, owner)
        count = len(memories)
        token = ObjectId()
        match = owned_session(session_id, owner)

        def reserve(now: datetime) -> Document:
            return {
                "$inc": {"memorySeq": count},
                "$set": {"updatedAt": now, **lock_fields(token, now)},
                "$unset": {"deletedAt": ""},
            }

        raw_session = await update_when_unlocked(self.db.sessions, match, reserve)
        if raw_session is None:
            await self._create_session(session_id, owner)
            raw_session = await update_when_unlocked(self.db.sessions, match, reserve)
            if raw_session is None:  # reassigned to another user in between
                raise no_access("session", session_id, "sessionId")
        try:
            now = raw_session["updatedAt"]
            first_seq = raw_session["memorySeq"] - count + 1
            docs: list[Document] = [
                {
                    "_id": str(uuid.uuid4()),
                    "sessionId": session_id,
                    "seq": first_seq + index,
                    "role": memory.role,
                    "roleType": memory.role_type.value if memory.role_type else None,
                    "content": memory.content,
                    "metadata": metadata[index],
                    "createdAt": now,
                    "updatedAt": now,
                }
                for index, memory in enumerate(memories)
            ]
            await self.collection.insert_many(docs, ordered=True)
        finally:
            await release(self.db.sessions, raw_session["_id"], token)
        return SessionDoc.from_mongo(raw_session), [MemoryDoc.from_mongo(doc) for doc in docs]

    async def _create_session(self, session_id: str, owner: str | None) -> None:
        """Create the session if it is new, touching nothing that exists; a user-confined caller
        creates it as its own, and may not write to anyone else's."""
        now = utc_now()
        existing = await self.db.sessions.find_one_and_update(
            {"sessionId": session_id},
            {
                "$setOnInsert": {
                    "userId": owner,
                    "metadata": {},
                    "createdAt": now,
                    "updatedAt": now,
                    "memorySeq": 0,
                }
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if owner is not None and (existing is None or existing.get("userId") != owner):
            raise no_access("session", session_id, "sessionId")

    async def get(self, memory_uuid: str) -> MemoryDoc | None:
        raw = await self.collection.find_one({"_id": memory_uuid, **LIVE})
        return MemoryDoc.from_mongo(raw) if raw else None

    async def get_many(self, uuids: Iterable[str]) -> list[MemoryDoc]:
        raws = await self.collection.find({"_id": any_of(uuids), **LIVE}).to_list(None)
        return [MemoryDoc.from_mongo(raw) for raw in raws]

    async def update(
        self, memory_uuid: str, metadata: JsonObject, *, owner: str | None = None
    ) -> MemoryDoc:
        validate_patch(metadata)
        forbid_reserved_metadata(owner, metadata, "metadata")
        memory = await self.collection.find_one({"_id": memory_uuid, **LIVE}, {"sessionId": 1})
        if memory is not None and owner is not None:
            session = await self.db.sessions.find_one(
                {**owned_session(memory["sessionId"], owner), **LIVE}, {"_id": 1}
            )
            memory = memory if session else None
        # The sessionId in the filter is the shard key of a sharded `memories` (docs/scaling.md).
        raw = memory and await update_merging_metadata(
            self.collection,
            {"_id": memory_uuid, "sessionId": memory["sessionId"], **LIVE},
            metadata,
            set_fields={"updatedAt": utc_now()},
        )
        if raw is None:
            if owner is not None:
                raise no_access("memory", memory_uuid, "id")
            raise NotFound(f"no memory with id {memory_uuid!r}", field="id")
        return MemoryDoc.from_mongo(raw)

    async def delete_all(
        self, session_id: str, *, owner: str | None = None
    ) -> tuple[SessionDoc, int]:
        """Soft-delete every live memory of a live session; the session stays."""
        check_identifier(session_id, "sessionId")
        # Once no addMemory is in flight, every memory up to the session's memorySeq is stored;
        # later ones (higher seq) are not part of what is deleted.
        raw_session = await update_when_unlocked(
            self.db.sessions,
            {**owned_session(session_id, owner), **LIVE},
            lambda now: {"$set": {"updatedAt": now}},
        )
        if raw_session is None:
            raise session_missing(session_id, owner)
        result = await self.collection.update_many(
            {"sessionId": session_id, **LIVE, "seq": {"$lte": raw_session.get("memorySeq", 0)}},
            {"$set": {"deletedAt": raw_session["updatedAt"]}},
        )
        return SessionDoc.from_mongo(raw_session), result.modified_count

    def list(self, session_id: str) -> KeysetQuery[MemoryDoc]:
        return self.of_sessions().of(session_id)

    def of_sessions(self) -> ChildLists[str, MemoryDoc]:
        """Sessions' live memories in order: pages of many sessions' at once."""
        return ChildLists(
            self.collection,
            "sessionId",
            LIVE,
            ORDER,
            MemoryDoc.from_mongo,
            one_query=self.db.full_scans,
        )
