"""Users: create, read, update with metadata merge, and soft delete with their sessions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument

from app.clock import utc_now
from app.db import Database, Document
from app.documents import UserDoc
from app.errors import AlreadyExists, NotFound
from app.metadata import JsonObject, check_stored_size, strip_nulls, validate_patch
from app.store.access import forbid_other_user, forbid_reserved_metadata
from app.store.keyset import KeysetQuery, any_of
from app.store.merge import update_merging_metadata
from app.store.sessions import delete_memories_up_to
from app.store.writelock import update_when_unlocked
from app.validation import check_identifier, check_optional_text

LIVE: Document = {"deletedAt": None}
ORDER = ("createdAt", "_id")


def _check_profile(email: str | None, first_name: str | None, last_name: str | None) -> None:
    check_optional_text(email, "email")
    check_optional_text(first_name, "firstName")
    check_optional_text(last_name, "lastName")


class UserStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.collection = db.users

    async def add(
        self,
        user_id: str,
        *,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        metadata: JsonObject | None = None,
        owner: str | None = None,
    ) -> UserDoc:
        """Create a user; a soft-deleted user with this id is replaced by the new one."""
        check_identifier(user_id, "userId")
        forbid_other_user(owner, user_id, "userId")
        _check_profile(email, first_name, last_name)
        if metadata is not None:
            validate_patch(metadata)
            forbid_reserved_metadata(owner, metadata, "metadata")
        fields = {
            "email": email,
            "firstName": first_name,
            "lastName": last_name,
            "metadata": strip_nulls(metadata or {}),
        }
        check_stored_size(fields["metadata"])
        now = utc_now()
        new_id = ObjectId()
        # An upsert keyed on userId is atomic on both stores, so two racing adds make one user.
        raw = await self.collection.find_one_and_update(
            {"userId": user_id},
            {
                "$setOnInsert": {
                    "_id": new_id,
                    "userId": user_id,
                    **fields,
                    "createdAt": now,
                    "updatedAt": now,
                }
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if raw is None:  # pragma: no cover - an upsert always returns a document
            raise RuntimeError("upsert returned nothing")
        if raw["_id"] == new_id:
            return UserDoc.from_mongo(raw)
        if raw.get("deletedAt") is None:
            raise AlreadyExists(f"a user with userId {user_id!r} already exists", field="userId")
        revived = await self.collection.find_one_and_update(
            {"_id": raw["_id"], "deletedAt": raw["deletedAt"]},
            {"$set": {**fields, "createdAt": now, "updatedAt": now}, "$unset": {"deletedAt": ""}},
            return_document=ReturnDocument.AFTER,
        )
        if revived is None:
            raise AlreadyExists(f"a user with userId {user_id!r} already exists", field="userId")
        return UserDoc.from_mongo(revived)

    async def get(self, user_id: str) -> UserDoc | None:
        raw = await self.collection.find_one({"userId": user_id, **LIVE})
        return UserDoc.from_mongo(raw) if raw else None

    async def get_many(self, user_ids: Iterable[str]) -> list[UserDoc]:
        raws = await self.collection.find({"userId": any_of(user_ids), **LIVE}).to_list(None)
        return [UserDoc.from_mongo(raw) for raw in raws]

    async def get_many_by_ids(self, ids: Iterable[ObjectId]) -> list[UserDoc]:
        raws = await self.collection.find({"_id": any_of(ids), **LIVE}).to_list(None)
        return [UserDoc.from_mongo(raw) for raw in raws]

    async def update(
        self,
        user_id: str,
        *,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        metadata: JsonObject | None = None,
        owner: str | None = None,
    ) -> UserDoc:
        """Change the given fields (None leaves a field as it is) and merge `metadata`."""
        check_identifier(user_id, "userId")
        forbid_other_user(owner, user_id, "userId")
        _check_profile(email, first_name, last_name)
        if metadata is not None:
            validate_patch(metadata)
            forbid_reserved_metadata(owner, metadata, "metadata")
        changes: dict[str, Any] = {
            name: value
            for name, value in (
                ("email", email),
                ("firstName", first_name),
                ("lastName", last_name),
            )
            if value is not None
        }
        raw = await update_merging_metadata(
            self.collection,
            {"userId": user_id, **LIVE},
            metadata,
            set_fields={**changes, "updatedAt": utc_now()},
        )
        if raw is None:
            raise NotFound(f"no user with userId {user_id!r}", field="userId")
        return UserDoc.from_mongo(raw)

    async def delete(self, user_id: str, *, owner: str | None = None) -> UserDoc:
        """Soft-delete the user, then its live sessions, then their memories."""
        check_identifier(user_id, "userId")
        forbid_other_user(owner, user_id, "userId")
        now = utc_now()
        raw = await self.collection.find_one_and_update(
            {"userId": user_id, **LIVE},
            {"$set": {"deletedAt": now, "updatedAt": now}},
            return_document=ReturnDocument.AFTER,
        )
        if raw is None:
            raise NotFound(f"no user with userId {user_id!r}", field="userId")
        sessions = await self.db.sessions.find({"userId": user_id, **LIVE}, {"_id": 1}).to_list(
            None
        )
        deleted = []
        for session in sessions:
            # One at a time, each once no addMemory is writing to it (app.store.writelock).
            raw_session = await update_when_unlocked(
                self.db.sessions,
                {"_id": session["_id"], **LIVE},
                lambda _: {"$set": {"deletedAt": now, "updatedAt": now}},
                projection={"sessionId": 1, "memorySeq": 1, "deletedAt": 1},
            )
            if raw_session is not None:
                deleted.append(raw_session)
        if deleted:
            await delete_memories_up_to(self.db, deleted)
        return UserDoc.from_mongo(raw)

    def list(self, *, owner: str | None = None) -> KeysetQuery[UserDoc]:
        base = LIVE if owner is None else {"userId": owner, **LIVE}
        return KeysetQuery(self.collection, base, ORDER, UserDoc.from_mongo)
