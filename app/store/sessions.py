"""Sessions: create (or bring back), read, update with metadata merge, soft delete with their
memories; their write lease, which orders `addMemory` calls, is app.store.session_lease."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Protocol

from bson import ObjectId
from pymongo.errors import PyMongoError

from app.broadcaster import Broadcaster
from app.clock import utc_now
from app.db import Database, Document
from app.documents import SessionDoc
from app.errors import AlreadyExists, SessionBusy
from app.metadata import JsonObject, checked_patch, new_metadata
from app.store.access import Access
from app.store.child_lists import ChildLists
from app.store.filters import all_of, any_of
from app.store.keyset import BY_CREATION, KeysetQuery
from app.store.lifecycle import LIVE, create_or_revive
from app.store.metadata_update import update_merging_metadata
from app.store.session_filter import EVERY_SESSION, SessionFilter
from app.store.session_lease import MEMORIES_DELETED_THROUGH_SEQ, Lease, SessionLease
from app.store.writelock import taking, update_when_free
from app.validation import check_identifier

# How often a delete takes back sessions whose lease writers took from it before SESSION_BUSY.
_DELETE_ROUNDS = 5


class LiveUsers(Protocol):
    async def require_live(self, user_id: str) -> None: ...


class MemoryDeletes(Protocol):
    async def delete_up_to(self, leases: list[Lease], at: datetime) -> int: ...


class SessionStore:
    """The caller's sessions. It names users only once `users` finds them live, deletes a
    session's memories with `memories`, and tells `publisher` what subscribers must hear of;
    `lease` is the sessions' write lease, for the memories store."""

    order = BY_CREATION

    def __init__(
        self,
        db: Database,
        access: Access,
        *,
        users: LiveUsers,
        memories: MemoryDeletes,
        publisher: Broadcaster | None,
    ) -> None:
        self.collection = db.sessions
        self.access = access
        self.users = users
        self.memories = memories
        self.publisher = publisher
        self.unions = db.unions
        self.clock = db.clock
        # The sessionIds this caller was shown: memories of these are visible to it without
        # asking the database again (only kept for a confined caller; see `visible`).
        self._seen: set[str] = set()
        self.lease = SessionLease(self.collection, access, self.clock, self._doc)

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
            await self.users.require_live(user_id)

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

    async def get(
        self, session_id: str, load: Callable[[str], Awaitable[SessionDoc | None]] | None = None
    ) -> SessionDoc | None:
        """The live session with this sessionId, or None when there is none (for an admin); a
        user token gets FORBIDDEN for a session not its own, whether or not it exists. `load`
        fetches it (a request's DataLoader, say); without it, one query."""
        check_identifier(session_id, "sessionId")
        doc = await (load or self._get_one)(session_id)
        if doc is None:
            self.access.unseen("session", session_id, "sessionId")
        return doc

    async def _get_one(self, session_id: str) -> SessionDoc | None:
        found = await self.get_many([session_id])
        return found[0] if found else None

    async def get_many_by_ids(self, ids: Iterable[ObjectId]) -> list[SessionDoc]:
        match = {"_id": any_of(ids), **LIVE, **self.access.belonging()}
        raws = await self.collection.find(match).to_list(None)
        return [self._doc(raw) for raw in raws]

    async def still_visible(self, session_id: str) -> bool:
        """Whether the caller may see the live session now, read afresh (never from what this
        store was shown before): for a subscription that outlives many reads."""
        found = await self.collection.find_one(
            {"sessionId": session_id, **LIVE, **self.access.belonging()}, {"_id": 1}
        )
        return found is not None

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
            await self.users.require_live(user_id)
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
        if user_id is not None and self.publisher is not None:
            self.publisher.session_given_to(session_id, user_id)
        return self._doc(raw)

    async def delete(self, session_id: str) -> SessionDoc:
        """Soft-delete the session and its memories (see `_delete`)."""
        check_identifier(session_id, "sessionId")
        deleted = await self._delete([(self._own(session_id), session_id)], utc_now())
        if not deleted:
            raise self._missing(session_id)
        self._ended(deleted)
        return SessionDoc.from_mongo(deleted[0])

    def _ended(self, sessions: list[Document]) -> None:
        """Tell subscribers that these sessions were deleted (their subscriptions complete)."""
        if self.publisher is not None:
            for raw in sessions:
                self.publisher.session_deleted(raw["sessionId"])

    async def delete_of_user(self, user_id: str, now: datetime) -> None:
        """Soft-delete the live sessions of a user and their memories (see `_delete`)."""
        sessions = await self.collection.find(
            {"userId": user_id, **LIVE}, {"_id": 1, "sessionId": 1}
        ).to_list(None)
        self._ended(
            await self._delete([({"_id": raw["_id"]}, raw["sessionId"]) for raw in sessions], now)
        )

    async def _delete(self, targets: list[tuple[Document, str]], now: datetime) -> list[Document]:
        """Soft-delete the live session each `(match, sessionId)` finds, memories first; returns
        the sessions deleted.

        Children first, so that a cut cascade is finished by its retry: `update_many` is not a
        retryable write, and a failover can end it half done. Marking the session first (as
        memql did) left the retry a deleted session to answer NOT_FOUND for, and its live
        memories were never purged; now the session stays live, and visibly there, until every
        memory it had is marked, and a retry does the rest (each step is idempotent).

        The delete holds each session's write lease meanwhile (one lease id for all), so no
        `addMemory` lands between its memories and itself: it takes the lease, noting the seq
        it deletes through; marks the memories up to it; then marks the sessions whose lease it
        still holds, releasing it in the same update. A session whose lease ran out and was
        taken by a writer is done again. A cut leaves the leases to run out in LEASE, or hands
        them back when it can.

        Chosen over a transaction, which would end the failure mode on a replica set: mongomock
        has none, and one code path serves both stores; a user with many sessions may outgrow a
        transaction's 60 s default lifetime; and a commit whose answer is lost needs an
        idempotent retry all the same. Measured with app.call_counting on the
        embedded store (users of 10 and 100 sessions of 10 memories, the MongoDB plan): a
        deleteSession makes 3 database calls where it made 2, a deleteUser of N sessions N + 5
        where it made N + 2 (one lease per session either way); cut at its memories' update, a
        retried deleteSession answers deletedId in 3 calls and leaves none of its memories
        live, where it answered NOT_FOUND and left all of them live, never to be purged (and a
        retried deleteUser left every memory of the user).
        """
        deleter = ObjectId()
        deleted: list[Document] = []
        for _ in range(_DELETE_ROUNDS):
            held: list[Document] = []
            try:
                for match, session_id in targets:
                    raw = await update_when_free(
                        self.collection,
                        {**match, **LIVE},
                        [taking(deleter, self.clock), {"$set": MEMORIES_DELETED_THROUGH_SEQ}],
                        self.clock,
                        session_id=session_id,
                    )
                    if raw is not None:
                        held.append(raw)
                await self.memories.delete_up_to([Lease.of(raw, deleter) for raw in held], now)
                if not held:
                    return deleted
                marked = await self.collection.update_many(
                    {"_id": any_of(raw["_id"] for raw in held), "writer": deleter},
                    {
                        "$set": {"deletedAt": now, "updatedAt": now},
                        "$unset": {"writer": "", "writerUntil": ""},
                    },
                )
            except BaseException:
                await self._hand_back(held, deleter)
                raise
            if marked.modified_count == len(held):
                return deleted + held
            # Some leases ran out and a writer took them: those sessions are done again.
            live = await self.collection.find(
                {"_id": any_of(raw["_id"] for raw in held), **LIVE}, {"_id": 1}
            ).to_list(None)
            again = {raw["_id"] for raw in live}
            deleted += [raw for raw in held if raw["_id"] not in again]
            targets = [
                ({"_id": raw["_id"]}, raw["sessionId"]) for raw in held if raw["_id"] in again
            ]
        raise SessionBusy(
            f"sessions {', '.join(repr(session_id) for _, session_id in targets)} are busy: "
            "writes to them kept taking their lease while they were being deleted. Send the "
            "request again."
        )

    async def _hand_back(self, held: list[Document], deleter: ObjectId) -> None:
        """Release a cut delete's leases if the database still answers (else they run out)."""
        if held:
            with contextlib.suppress(PyMongoError):
                await self.collection.update_many(
                    {"_id": any_of(raw["_id"] for raw in held), "writer": deleter},
                    {"$unset": {"writer": "", "writerUntil": ""}},
                )

    async def live_ids(self, user_id: str | None = None) -> list[str]:
        """The sessionIds of the live sessions `list(user_id)` lists, every one, unordered."""
        query = self.list(user_id=user_id)
        raws = await self.collection.find(query.base, {"sessionId": 1}).to_list(None)
        session_ids = [raw["sessionId"] for raw in raws]
        if not self.access.admin:
            self._seen.update(session_ids)
        return session_ids

    def list(
        self, user_id: str | None = None, where: SessionFilter = EVERY_SESSION
    ) -> KeysetQuery[SessionDoc]:
        """The live sessions the caller may see (of one user, with `user_id`) that `where`
        keeps, oldest first."""
        if user_id is not None:
            check_identifier(user_id, "userId")
        self.access.check_acting_for(user_id, "userId")
        narrowed = self.access.belonging() or ({"userId": user_id} if user_id else {})
        return KeysetQuery(
            self.collection, all_of({**LIVE, **narrowed}, where.match), self.order, self._doc
        )

    def of_users(self, where: SessionFilter = EVERY_SESSION) -> ChildLists[str, SessionDoc]:
        """Users' live sessions that `where` keeps, oldest first: pages of many users' at
        once."""
        return ChildLists(
            self.collection,
            "userId",
            all_of({**LIVE, **self.access.belonging()}, where.match),
            self.order,
            self._doc,
            union=self.unions,
        )

    async def last_seq(self, session_id: str) -> int:
        """The `seq` last handed out in the caller's live session; `missing`'s error when there
        is no such session."""
        raw = await self.collection.find_one({**self._own(session_id), **LIVE}, {"memorySeq": 1})
        if raw is None:
            raise self._missing(session_id)
        seq: int = raw.get("memorySeq", 0)
        return seq

    async def purge(self, deleted: Document) -> int:
        """Hard-delete the sessions whose `deletedAt` matches `deleted`."""
        result = await self.collection.delete_many({"deletedAt": deleted})
        return result.deleted_count
