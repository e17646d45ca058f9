"""Sessions: create (or bring back), read, update with metadata merge, soft delete with their
memories, and the per-session write lease that orders `addMemory` calls."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from bson import ObjectId
from pymongo import ReturnDocument

from app.clock import utc_now
from app.db import Database, Document
from app.documents import SessionDoc
from app.errors import AlreadyExists
from app.metadata import JsonObject, checked_patch, new_metadata
from app.store.access import Access
from app.store.keyset import BY_CREATION, ChildLists, KeysetQuery, any_of
from app.store.lifecycle import LIVE, create_or_revive, soft_delete
from app.store.metadata_update import update_merging_metadata
from app.store.writelock import lock_fields, release, update_when_unlocked
from app.validation import check_identifier

if TYPE_CHECKING:
    from app.store import ViewerStore


class SessionStore:
    order = BY_CREATION

    def __init__(self, db: Database, access: Access, stores: ViewerStore) -> None:
        self.collection = db.sessions
        self.access = access
        self.stores = stores
        self.full_scans = db.full_scans
        # The sessionIds this caller was shown: memories of these are visible to it without
        # asking the database again (only kept for a confined caller; see `visible`).
        self._seen: set[str] = set()

    def _doc(self, raw: Document) -> SessionDoc:
        if not self.access.admin:
            self._seen.add(raw["sessionId"])
        return SessionDoc.from_mongo(raw)

    def _own(self, session_id: str) -> Document:
        """The filter of the session, among those the caller may touch."""
        return {"sessionId": session_id, **self.access.belonging()}

    def _missing(self, session_id: str) -> Exception:
        return self.access.missing("session", session_id, "sessionId")

    def _taken(self, session_id: str) -> AlreadyExists:
        return AlreadyExists(
            f"a session with sessionId {session_id!r} already exists", field="sessionId"
        )

    async def _held_by_another(self, session_id: str) -> bool:
        """A session with this id exists (live or deleted) and is not the caller's to touch;
        never for an admin. What no earlier write of the caller's own can change."""
        if self.access.admin:
            return False
        raw = await self.collection.find_one({"sessionId": session_id}, {"userId": 1})
        return raw is not None and not self.access.may_see(raw.get("userId"))

    def _add_input(
        self, session_id: str, user_id: str | None, metadata: JsonObject | None
    ) -> JsonObject:
        check_identifier(session_id, "sessionId")
        self.access.check_acting_for(user_id, "userId")
        return new_metadata(
            metadata, "metadata", may_write_reserved=self.access.may_write_reserved_metadata
        )

    async def check_add(
        self, session_id: str, *, user_id: str | None = None, metadata: JsonObject | None = None
    ) -> None:
        """Every rule `add` can be refused by that no earlier write of the caller's changes."""
        self._add_input(session_id, user_id, metadata)
        if await self._held_by_another(session_id):
            raise self._taken(session_id)

    async def add(
        self, session_id: str, *, user_id: str | None = None, metadata: JsonObject | None = None
    ) -> SessionDoc:
        """Create a session; a soft-deleted one comes back with the new fields, its memories
        staying deleted. A user token creates sessions belonging to its own user.

        Session ids are one namespace, as in Zep: a user token creating an id another user
        holds is told what creating one of its own existing ids is told, ALREADY_EXISTS."""
        stored_metadata = self._add_input(session_id, user_id, metadata)
        if self.access.admin and user_id is not None:
            await self.stores.users.require_live(user_id)

        def check_existing(raw: Document) -> None:
            if not self.access.may_see(raw.get("userId")):
                raise self._taken(session_id)

        # memorySeq is kept on revival, so new memories sort after the deleted ones and never
        # reuse a seq.
        raw = await create_or_revive(
            self.collection,
            {"sessionId": session_id},
            {"userId": self.access.user_for_new(user_id), "metadata": stored_metadata},
            on_insert={"memorySeq": 0},
            taken=self._taken(session_id),
            check_existing=check_existing,
        )
        return self._doc(raw)

    async def get_many(self, session_ids: Iterable[str]) -> list[SessionDoc]:
        """The live sessions with these sessionIds that the caller may see."""
        match = {"sessionId": any_of(session_ids), **LIVE, **self.access.belonging()}
        raws = await self.collection.find(match).to_list(None)
        return [self._doc(raw) for raw in raws]

    async def get_many_by_ids(self, ids: Iterable[ObjectId]) -> list[SessionDoc]:
        match = {"_id": any_of(ids), **LIVE, **self.access.belonging()}
        raws = await self.collection.find(match).to_list(None)
        return [self._doc(raw) for raw in raws]

    async def visible(self, session_ids: Iterable[str]) -> set[str]:
        """Those of `session_ids` whose memories the caller may see: for a user token, its
        own live sessions (asking the database only about sessions it was not shown yet)."""
        wanted = set(session_ids)
        if self.access.admin:
            return wanted
        unknown = wanted - self._seen
        if unknown:
            raws = await self.collection.find(
                {"sessionId": any_of(unknown), **LIVE, **self.access.belonging()},
                {"sessionId": 1},
            ).to_list(None)
            self._seen.update(raw["sessionId"] for raw in raws)
        return wanted & self._seen

    def _update_input(
        self, session_id: str, user_id: str | None, metadata: JsonObject | None
    ) -> JsonObject | None:
        check_identifier(session_id, "sessionId")
        self.access.check_acting_for(user_id, "userId")
        if metadata is None:
            return None
        return checked_patch(
            metadata, "metadata", may_write_reserved=self.access.may_write_reserved_metadata
        )

    async def check_writable(self, session_id: str) -> None:
        """Refuses a write to a session another user holds (a user token writes only to its
        own, and creates those that do not exist yet)."""
        check_identifier(session_id, "sessionId")
        if await self._held_by_another(session_id):
            raise self.access.denied("session", session_id, "sessionId")

    async def check_update(
        self, session_id: str, *, user_id: str | None = None, metadata: JsonObject | None = None
    ) -> None:
        """Every rule `update` can be refused by that no earlier write of the caller's changes."""
        self._update_input(session_id, user_id, metadata)
        await self.check_writable(session_id)

    async def update(
        self, session_id: str, *, user_id: str | None = None, metadata: JsonObject | None = None
    ) -> SessionDoc:
        """Merge `metadata`, set `user_id` when given; like Zep, a deleted session is undeleted
        (its memories stay deleted)."""
        patch = self._update_input(session_id, user_id, metadata)
        if user_id is not None and self.access.admin:
            await self.stores.users.require_live(user_id)
        changes: Document = {"updatedAt": utc_now()}
        if user_id is not None:
            changes["userId"] = user_id
        raw = await update_merging_metadata(
            self.collection,
            self._own(session_id),
            patch,
            set_fields=changes,
            unset_fields=("deletedAt",),
        )
        if raw is None:
            raise self._missing(session_id)
        if user_id is not None and self.stores.publisher is not None:
            self.stores.publisher.session_given_to(session_id, user_id)
        return self._doc(raw)

    async def delete(self, session_id: str) -> SessionDoc:
        """Soft-delete the session, then its memories."""
        check_identifier(session_id, "sessionId")
        raw = await update_when_unlocked(
            self.collection, {**self._own(session_id), **LIVE}, soft_delete
        )
        if raw is None:
            raise self._missing(session_id)
        await self.stores.memories.delete_up_to([raw], raw["deletedAt"])
        self._deleted([raw])
        return SessionDoc.from_mongo(raw)

    def _deleted(self, sessions: list[Document]) -> None:
        if self.stores.publisher is not None:
            for raw in sessions:
                self.stores.publisher.session_deleted(raw["sessionId"])

    async def delete_of_user(self, user_id: str, now: datetime) -> None:
        """Soft-delete the live sessions of a user just deleted, then their memories."""
        sessions = await self.collection.find({"userId": user_id, **LIVE}, {"_id": 1}).to_list(None)
        deleted = []
        for session in sessions:
            # One at a time, each once no addMemory is writing to it (app.store.writelock).
            raw = await update_when_unlocked(
                self.collection,
                {"_id": session["_id"], **LIVE},
                lambda _: soft_delete(now),
                projection={"sessionId": 1, "memorySeq": 1},
            )
            if raw is not None:
                deleted.append(raw)
        if deleted:
            await self.stores.memories.delete_up_to(deleted, now)
            self._deleted(deleted)

    def list(self, user_id: str | None = None) -> KeysetQuery[SessionDoc]:
        """The live sessions the caller may see (of one user, with `user_id`), oldest first."""
        self.access.check_acting_for(user_id, "userId")
        narrowed = self.access.belonging() or ({"userId": user_id} if user_id else {})
        return KeysetQuery(self.collection, {**LIVE, **narrowed}, self.order, self._doc)

    def of_users(self) -> ChildLists[str, SessionDoc]:
        """Users' live sessions, oldest first: pages of many users' at once."""
        return ChildLists(
            self.collection,
            "userId",
            {**LIVE, **self.access.belonging()},
            self.order,
            self._doc,
            one_query=self.full_scans,
        )

    async def reserve_seq(self, session_id: str, count: int, writer: ObjectId) -> Document:
        """Take the session's write lease for `writer` and reserve `count` consecutive seq
        numbers; an unknown session is created (belonging to a user token's user), a deleted one
        undeleted. Returns the session as updated; `release` hands the lease back."""

        def reserve(now: datetime) -> Document:
            return {
                "$inc": {"memorySeq": count},
                "$set": {"updatedAt": now, **lock_fields(writer, now)},
                "$unset": {"deletedAt": ""},
            }

        match = self._own(session_id)
        raw = await update_when_unlocked(self.collection, match, reserve)
        if raw is None:
            await self._create_if_new(session_id)
            raw = await update_when_unlocked(self.collection, match, reserve)
            if raw is None:  # given to another user in between
                raise self.access.denied("session", session_id, "sessionId")
        self._doc(raw)
        return raw

    async def release(self, session: ObjectId, writer: ObjectId) -> None:
        await release(self.collection, session, writer)

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

    async def last_seq(self, session_id: str) -> int:
        """The `seq` last handed out in the caller's live session; `missing`'s error when there
        is no such session."""
        raw = await self.collection.find_one({**self._own(session_id), **LIVE}, {"memorySeq": 1})
        if raw is None:
            raise self._missing(session_id)
        seq: int = raw.get("memorySeq", 0)
        return seq

    async def settle(self, session_id: str) -> Document:
        """The live session once no `addMemory` is writing to it: every memory up to its
        memorySeq is then stored, and later ones (higher seq) are not."""
        check_identifier(session_id, "sessionId")
        raw = await update_when_unlocked(
            self.collection,
            {**self._own(session_id), **LIVE},
            lambda now: {"$set": {"updatedAt": now}},
        )
        if raw is None:
            raise self._missing(session_id)
        return raw

    async def purge(self, deleted: Document) -> int:
        """Hard-delete the sessions whose `deletedAt` matches `deleted`."""
        result = await self.collection.delete_many({"deletedAt": deleted})
        return result.deleted_count
