"""All MongoDB access: one store per collection, bound to the caller they act for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.auth import Viewer
from app.broadcaster import Broadcaster
from app.db import Database, Document
from app.store.access import Access
from app.store.deleted_users import DeletedUsers
from app.store.memories import MemoryDeletes, MemoryStore
from app.store.sessions import SessionStore
from app.store.users import LiveUsers, UserStore


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    users: int
    sessions: int
    memories: int

    @property
    def total(self) -> int:
        return self.users + self.sessions + self.memories


DELETED_USERS_TTL = 5.0
"""Seconds a process trusts what it read of a user's deletion (another process's deletion of a
user is seen within this time; this process's own at once)."""


SUBSCRIPTION_BUFFER = 1000
"""Memories a subscription may have waiting (MEMQL_SUBSCRIPTION_BUFFER's default)."""


class Store:
    """The process's store over one `Database`; `for_viewer` gives the stores one caller uses,
    once `admit` has let that caller in. Its `broadcaster` holds the process's subscriptions."""

    def __init__(
        self,
        db: Database,
        *,
        deleted_users_ttl: float = DELETED_USERS_TTL,
        subscription_buffer: int = SUBSCRIPTION_BUFFER,
    ) -> None:
        self.db = db
        self.deleted_users = DeletedUsers(db.users, deleted_users_ttl)
        self.broadcaster = Broadcaster(buffer=subscription_buffer)
        # The embedded store serves one process, whose own writes are all there is to publish.
        # On MongoDB the change feed (app.store.change_feed) publishes every process's writes,
        # this one's included, in the order the database applied them.
        self.publisher = self.broadcaster if db.embedded else None

    async def admit(self, viewer: Viewer) -> Viewer:
        """`viewer`, unless a user token of a deleted user (UNAUTHENTICATED): every entry point
        calls this with the viewer its credentials prove."""
        return await self.deleted_users.admit(viewer)

    def for_viewer(self, viewer: Viewer) -> ViewerStore:
        return ViewerStore(
            self.db, Access(viewer), self.deleted_users, self.broadcaster, self.publisher
        )


class ViewerStore:
    """The users, sessions and memories stores of one caller: every read and write they make is
    confined to what its `access` allows. Made per request: it remembers what it has shown.

    Writes that subscribers must hear of (memories added, sessions deleted or given to another
    user) are told to `publisher`, when the process has to publish its own writes."""

    def __init__(
        self,
        db: Database,
        access: Access,
        deleted_users: DeletedUsers,
        broadcaster: Broadcaster,
        publisher: Broadcaster | None,
    ) -> None:
        self.db = db
        self.access = access
        self.deleted_users = deleted_users
        self.broadcaster = broadcaster
        self.publisher = publisher
        deletes = MemoryDeletes(db.memories)
        self.sessions = SessionStore(
            db, access, users=LiveUsers(db.users), memories=deletes, publisher=publisher
        )
        self.memories = MemoryStore(
            db,
            access,
            sessions=self.sessions,
            lease=self.sessions.lease,
            deletes=deletes,
            broadcaster=broadcaster,
            publisher=publisher,
        )
        self.users = UserStore(db, access, deleted_users=deleted_users, sessions=self.sessions)

    async def check_purge(self) -> None:
        self.access.require_admin("purgeDeleted")

    async def purge_deleted(self, *, deleted_before: datetime | None = None) -> PurgeCounts:
        """Hard-delete every soft-deleted document (or those deleted before `deleted_before`);
        admins only."""
        await self.check_purge()
        deleted: Document = {"$ne": None} if deleted_before is None else {"$lt": deleted_before}
        # Memories first: a session is never gone while memories that point to it remain.
        memories = await self.memories.purge(deleted)
        sessions = await self.sessions.purge(deleted)
        users = await self.users.purge(deleted)
        return PurgeCounts(users=users, sessions=sessions, memories=memories)
