"""Memories: append to a session (creating or undeleting it), read, merge metadata, soft
delete."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo.errors import BulkWriteError, PyMongoError

from app.broadcaster import Broadcaster
from app.clock import utc_now
from app.db import Collection, Database, Document
from app.documents import MemoryDoc, SessionDoc
from app.errors import BadUserInput, DatabaseUnavailable, Forbidden, database_outage
from app.metadata import JsonObject, checked_patch, new_metadata
from app.roles import RoleType
from app.search_terms import search_terms
from app.store.access import Access
from app.store.child_lists import ChildLists
from app.store.filters import any_of
from app.store.following import MemoryFollower
from app.store.keyset import BY_SEQ, SortKey
from app.store.lifecycle import LIVE
from app.store.metadata_update import update_merging_metadata
from app.store.search import SEARCH_TERMS, MemorySearch, SearchPage
from app.store.session_lease import Lease, SessionLease
from app.store.writelock import LEASE
from app.validation import check_content, check_identifier, check_memory_count, check_role

logger = logging.getLogger("memql.store")

READ: Document = {SEARCH_TERMS: 0}
"""What memory reads leave out of each memory: its words are search's alone (and copying them
costs the embedded store a list a memory)."""

# Sessions whose memories one `update_many` soft-deletes: each adds a clause to its filter.
DELETE_BATCH = 500
INSERT_ATTEMPTS = 3
INSERT_RETRY_SECONDS = 0.2
DUPLICATE_KEY = 11000


@dataclass(frozen=True, slots=True)
class NewMemory:
    """A memory as a client hands it to `MemoryStore.add`."""

    role: str
    content: str
    role_type: RoleType | None = None
    metadata: dict[str, Any] | None = None


class SessionReads(Protocol):
    """What the memories store reads of the caller's sessions (app.store.sessions)."""

    async def check_writable(self, session_id: str) -> None: ...

    async def visible(self, session_ids: Iterable[str]) -> set[str]: ...

    async def still_visible(self, session_id: str) -> bool: ...

    async def last_seq(self, session_id: str) -> int: ...

    # What a search reads: its scope.
    async def get(self, session_id: str) -> SessionDoc | None: ...

    async def get_many(self, session_ids: Iterable[str]) -> list[SessionDoc]: ...

    async def live_ids(self, user_id: str | None = None) -> list[str]: ...


class MemoryDeletes:
    """Soft-deletes of memories up to the seq a session's lease noted: for deleting a session
    (app.store.sessions) and for deleting a session's memories."""

    def __init__(self, memories: Collection) -> None:
        self.collection = memories

    async def delete_up_to(self, leases: list[Lease], at: datetime) -> int:
        """Soft-delete, as of `at`, the memories of each leased session up to the lease's
        `seq`. A memory added later (by an addMemory that undeleted the session) has a higher
        seq and stays, whatever the clocks of the processes involved say."""
        # LIVE in each clause: each is then one range of the (sessionId, deletedAt, seq) index,
        # which holds no deleted memory.
        cutoffs = [
            {"sessionId": lease.session.session_id, **LIVE, "seq": {"$lte": lease.seq}}
            for lease in leases
        ]
        deleted = 0
        for start in range(0, len(cutoffs), DELETE_BATCH):
            batch = cutoffs[start : start + DELETE_BATCH]
            result = await self.collection.update_many(
                {"$or": batch} if len(batch) > 1 else batch[0], {"$set": {"deletedAt": at}}
            )
            deleted += result.modified_count
        return deleted


class MemoryStore:
    """The caller's memories: `sessions` says which sessions it may see and write to, `lease`
    orders each session's writes, `deletes` deletes a session's memories; subscriptions are
    made on `broadcaster`, and what subscribers must hear of is told to `publisher`."""

    order = BY_SEQ

    def __init__(
        self,
        db: Database,
        access: Access,
        *,
        sessions: SessionReads,
        lease: SessionLease,
        deletes: MemoryDeletes,
        broadcaster: Broadcaster,
        publisher: Broadcaster | None,
    ) -> None:
        self.collection = db.memories
        self.access = access
        self.sessions = sessions
        self.lease = lease
        self.deletes = deletes
        self.broadcaster = broadcaster
        self.publisher = publisher
        self.unions = db.unions

    def _check_new(self, memories: Sequence[NewMemory]) -> list[JsonObject]:
        """Validate every memory before anything is written; return their stored metadata."""
        check_memory_count(len(memories), "memories")
        stored: list[JsonObject] = []
        for index, memory in enumerate(memories):
            field = f"memories[{index}]"
            check_role(memory.role, f"{field}.role")
            check_content(memory.content, f"{field}.content")
            stored.append(
                new_metadata(
                    memory.metadata,
                    f"{field}.metadata",
                    may_write_reserved=self.access.may_write_reserved_metadata,
                )
            )
        return stored

    async def check_add(self, session_id: str, memories: Sequence[NewMemory]) -> None:
        """Every rule `add` can be refused by that no earlier write of the caller's changes."""
        self._check_new(memories)
        await self.sessions.check_writable(session_id)

    async def add(
        self, session_id: str, memories: Sequence[NewMemory]
    ) -> tuple[SessionDoc, list[MemoryDoc]]:
        """Append `memories` in order; an unknown session is created, a deleted one undeleted.

        One atomic `$inc` reserves a contiguous block of `seq` numbers, so concurrent calls never
        share a number and each call's memories stay together and in order; the session's write
        lease (app.store.writelock) makes each call's memories visible before the next call's.
        """
        check_identifier(session_id, "sessionId")
        metadata = self._check_new(memories)
        count = len(memories)
        lease = await self.lease.reserve(session_id, count)
        now = lease.session.updated_at
        first_seq = lease.seq - count + 1
        docs: list[Document] = [
            {
                "_id": str(uuid.uuid4()),
                "sessionId": session_id,
                "seq": first_seq + index,
                "role": memory.role,
                "roleType": memory.role_type.value if memory.role_type else None,
                "content": memory.content,
                SEARCH_TERMS: search_terms(memory.content),
                "metadata": metadata[index],
                "createdAt": now,
                "updatedAt": now,
            }
            for index, memory in enumerate(memories)
        ]
        try:
            await self._insert(docs)
        except BaseException:
            await self._give_back(lease, docs)
            raise
        added = [MemoryDoc.from_mongo(doc) for doc in docs]
        # Published while the lease is held, so subscribers hear of calls in `seq` order.
        if self.publisher is not None:
            self.publisher.memories_added(session_id, added)
        if not await self.lease.release(lease):
            await self._written_late(lease, first_seq, count)
        return lease.session, added

    async def _insert(self, docs: list[Document]) -> None:
        """Insert `docs` in order, past a failover or a lost connection: pymongo retries an
        insert once; after that each further try inserts again what did not make it (a
        duplicate key on one of these ids means it did), INSERT_ATTEMPTS tries in all, well
        within the write lease."""
        pending = docs
        for attempt in range(1, INSERT_ATTEMPTS + 1):
            try:
                await self.collection.insert_many(pending, ordered=True)
                return
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if not errors or any(error.get("code") != DUPLICATE_KEY for error in errors):
                    raise
                # Ordered: those before the first duplicate were written, and it was written
                # by a try before; those after it are tried again.
                pending = pending[errors[0]["index"] + 1 :]
                if not pending:
                    return
            except PyMongoError as exc:
                if database_outage(exc) is None or attempt == INSERT_ATTEMPTS:
                    raise
                await asyncio.sleep(INSERT_RETRY_SECONDS * attempt)
        raise DatabaseUnavailable("the memories could not be written; send the request again")

    async def _give_back(self, lease: Lease, docs: list[Document]) -> None:
        """After a failed insert: when none of `docs` was written, hand their seq numbers back
        (no gap in the session's seq), then the lease; tried INSERT_ATTEMPTS times, as a
        failover may leave no primary for a moment. With the database gone the lease runs out
        instead, and a written part stays, the next writer's seqs following it."""
        for attempt in range(1, INSERT_ATTEMPTS + 1):
            try:
                written = await self.collection.find_one(
                    {"_id": any_of(doc["_id"] for doc in docs)}, {"_id": 1}
                )
                if written is None:
                    await self.lease.give_back(lease, len(docs))
                await self.lease.release(lease)
                return
            except PyMongoError:
                if attempt == INSERT_ATTEMPTS:
                    logger.warning(
                        "addMemory to session %r failed and could not hand back its seq "
                        "numbers; its write lease runs out in %d s",
                        lease.session.session_id,
                        LEASE.total_seconds(),
                    )
                    return
                await asyncio.sleep(INSERT_RETRY_SECONDS * attempt)

    async def follow(self, session_id: str, *, after: int | None = None) -> MemoryFollower:
        """The memories of a live session the caller may see, in order: those stored after the
        `seq` `after`, then each one added; without `after`, only those added from now on.
        NOT_FOUND for an unknown or deleted session (FORBIDDEN for a user token, as `missing`
        says), FORBIDDEN for another user's."""
        check_identifier(session_id, "sessionId")
        # Subscribed before anything is read: nothing added from here on can be missed.
        subscription = self.broadcaster.subscribe(session_id, self.access.may_see)
        # Until the follower runs, what the feed brings is read from the store anyway: an
        # overflow meanwhile (a large write's events arriving late) only makes it read again.
        subscription.catching_up = True
        subscription.sent_through = after or 0
        try:
            last_seq = await self.sessions.last_seq(session_id)
            if after is not None and after > last_seq:
                # A cursor of another session, or of one deleted and purged since: following
                # from it would silently skip every memory up to it.
                raise BadUserInput(
                    "after is a cursor past this session's newest memory: use a cursor of "
                    "this session's memories",
                    field="after",
                )
        except BaseException:
            subscription.close()
            raise
        return MemoryFollower(
            self.of_sessions().of(session_id),
            subscription,
            after if after is not None else last_seq,
            replay=after is not None,
            still_visible=functools.partial(self.sessions.still_visible, session_id),
        )

    async def _written_late(self, lease: Lease, first_seq: int, count: int) -> None:
        """This call's lease ran out before its insert, and another writer or a delete went
        ahead on the session meanwhile. A delete that did meant these memories too (their seqs
        were reserved before it): they are deleted now, so the TTL purges them with the rest."""
        session_id = lease.session.session_id
        last_seq = first_seq + count - 1
        through = min(last_seq, await self.lease.deleted_through(lease))
        logger.warning(
            "addMemory to session %r held its write lease past %d s, so it wrote seq %d-%d "
            "after later writes to the session; %s",
            session_id,
            LEASE.total_seconds(),
            first_seq,
            last_seq,
            f"a delete meanwhile covered seq {first_seq}-{through}: deleted them too"
            if through >= first_seq
            else "no delete covered them",
        )
        if through >= first_seq:
            await self.collection.update_many(
                {"sessionId": session_id, **LIVE, "seq": {"$gte": first_seq, "$lte": through}},
                {"$set": {"deletedAt": utc_now()}},
            )

    async def get_many(self, uuids: Iterable[str]) -> list[MemoryDoc]:
        """The live memories with these uuids that the caller may see."""
        raws = await self.collection.find({"_id": any_of(uuids), **LIVE}, READ).to_list(None)
        visible = await self.sessions.visible(raw["sessionId"] for raw in raws)
        return [MemoryDoc.from_mongo(raw) for raw in raws if raw["sessionId"] in visible]

    async def check_update(self, memory_uuid: str, metadata: JsonObject) -> None:
        """Every rule `update` can be refused by that no earlier write of the caller's changes:
        the patch, and a memory in a session another user holds."""
        checked_patch(
            metadata, "metadata", may_write_reserved=self.access.may_write_reserved_metadata
        )
        memory = await self.collection.find_one({"_id": memory_uuid}, {"sessionId": 1})
        if memory is not None:
            try:
                await self.sessions.check_writable(memory["sessionId"])
            except Forbidden:
                raise self.access.denied("memory", memory_uuid, "id") from None

    async def update(
        self, memory_uuid: str, metadata: JsonObject, *, session_id: str | None = None
    ) -> MemoryDoc:
        """Merge `metadata` into the memory's; with `session_id`, only into a memory of that
        session (one of another session is not found)."""
        patch = checked_patch(
            metadata, "metadata", may_write_reserved=self.access.may_write_reserved_metadata
        )
        match: Document = {"_id": memory_uuid, **LIVE}
        if session_id is not None:
            match["sessionId"] = session_id
        memory = await self.collection.find_one(match, {"sessionId": 1})
        if memory is not None and not await self.sessions.visible([memory["sessionId"]]):
            memory = None
        # The sessionId in the filter is the shard key of a sharded `memories` (docs/scaling.md).
        raw = memory and await update_merging_metadata(
            self.collection,
            {"_id": memory_uuid, "sessionId": memory["sessionId"], **LIVE},
            patch,
            set_fields={"updatedAt": utc_now()},
        )
        if raw is None:
            raise self.access.missing("memory", memory_uuid, "id")
        return MemoryDoc.from_mongo(raw)

    async def delete_all(self, session_id: str) -> tuple[SessionDoc, int]:
        """Soft-delete every live memory of a live session; the session stays. It holds the
        session's write lease meanwhile, so no addMemory lands in between."""
        lease = await self.lease.hold_for_deleting(session_id)
        try:
            count = await self.deletes.delete_up_to([lease], lease.session.updated_at)
        finally:
            await self.lease.release(lease)
        return lease.session, count

    async def search(
        self,
        text: str,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        limit: int,
        after: SortKey | None = None,
    ) -> SearchPage:
        """A page of the live memories matching the words of `text`, best first (see
        app.store.search): in one session, in one user's sessions, or, without either, in
        every session the caller may see. `after` is the key of the hit the page follows."""
        return await MemorySearch(self).page(
            text, session_id=session_id, user_id=user_id, limit=limit, after=after
        )

    def of_sessions(self) -> ChildLists[str, MemoryDoc]:
        """Sessions' live memories in order: pages of many sessions' at once."""
        return ChildLists(
            self.collection,
            "sessionId",
            LIVE,
            self.order,
            MemoryDoc.from_mongo,
            union=self.unions,
            visible=self.sessions.visible,
            projection=READ,
        )

    async def purge(self, deleted: Document) -> int:
        """Hard-delete the memories whose `deletedAt` matches `deleted`."""
        result = await self.collection.delete_many({"deletedAt": deleted})
        return result.deleted_count
