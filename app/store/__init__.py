"""All MongoDB access: one store per collection, bound to the caller they act for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.auth import Viewer
from app.db import Database, Document
from app.store.access import Access
from app.store.deleted_users import DeletedUsers
from app.store.memories import MemoryStore
from app.store.sessions import SessionStore
from app.store.users import UserStore


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


class Store:
    """The process's store over one `Database`; `for_viewer` gives the stores one caller uses,
    once `admit` has let that caller in."""

    def __init__(self, db: Database, *, deleted_users_ttl: float = DELETED_USERS_TTL) -> None:
        self.db = db
        self.deleted_users = DeletedUsers(db.users, deleted_users_ttl)

    async def admit(self, viewer: Viewer) -> Viewer:
        """`viewer`, unless a user token of a deleted user (UNAUTHENTICATED): every entry point
        calls this with the viewer its credentials prove."""
        return await self.deleted_users.admit(viewer)

    def for_viewer(self, viewer: Viewer) -> ViewerStore:
        return ViewerStore(self.db, Access(viewer), self.deleted_users)


class ViewerStore:
    """The users, sessions and memories stores of one caller: every read and write they make is
    confined to what its `access` allows. Made per request: it remembers what it has shown."""

    def __init__(self, db: Database, access: Access, deleted_users: DeletedUsers) -> None:
        self.db = db
        self.access = access
        self.deleted_users = deleted_users
        self.users = UserStore(db, access, self)
        self.sessions = SessionStore(db, access, self)
        self.memories = MemoryStore(db, access, self)

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
