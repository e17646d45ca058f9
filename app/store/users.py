"""Users: create (or bring back), read, update with metadata merge, and soft delete with their
sessions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bson import ObjectId
from pymongo import ReturnDocument

from app.clock import utc_now
from app.db import Collection, Database, Document
from app.documents import UserDoc
from app.errors import AlreadyExists, NotFound
from app.metadata import JsonObject, checked_patch, new_metadata
from app.store.access import Access
from app.store.deleted_users import DeletedUsers
from app.store.filters import any_of
from app.store.keyset import BY_CREATION, KeysetQuery
from app.store.lifecycle import LIVE, create_or_revive, soft_delete
from app.store.metadata_update import update_merging_metadata
from app.validation import check_identifier, check_optional_text


@dataclass(frozen=True, slots=True)
class UserFields:
    """A user's fields as a client gives them to `UserStore.add` or `UserStore.update`."""

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    metadata: JsonObject | None = None

    def profile(self, *, keep_unset: bool) -> Document:
        """The profile fields as stored; with `keep_unset`, those not given as null."""
        fields = {"email": self.email, "firstName": self.first_name, "lastName": self.last_name}
        return {name: value for name, value in fields.items() if keep_unset or value is not None}


def _no_user(user_id: str) -> NotFound:
    return NotFound(f"no user with userId {user_id!r}", field="userId")


class LiveUsers:
    """Whether a user is live, for a session about to name it (app.store.sessions)."""

    def __init__(self, users: Collection) -> None:
        self.collection = users

    async def require_live(self, user_id: str) -> None:
        """NOT_FOUND unless a live user has this userId."""
        check_identifier(user_id, "userId")
        if await self.collection.find_one({"userId": user_id, **LIVE}, {"_id": 1}) is None:
            raise _no_user(user_id)


class UserSessions(Protocol):
    async def delete_of_user(self, user_id: str, now: datetime) -> None: ...


class UserStore:
    """The caller's users: deleting one deletes its `sessions` first, and notes the deletion
    in `deleted_users`, whose tokens are then refused."""

    order = BY_CREATION

    def __init__(
        self,
        db: Database,
        access: Access,
        *,
        deleted_users: DeletedUsers,
        sessions: UserSessions,
    ) -> None:
        self.collection = db.users
        self.access = access
        self.deleted_users = deleted_users
        self.sessions = sessions

    def _check(self, user_id: str, fields: UserFields) -> None:
        check_identifier(user_id, "userId")
        self.access.check_acting_for(user_id, "userId")
        check_optional_text(fields.email, "email")
        check_optional_text(fields.first_name, "firstName")
        check_optional_text(fields.last_name, "lastName")

    async def check_add(self, user_id: str, fields: UserFields) -> Document:
        """What `add` stores, once every rule it can be refused by before writing holds."""
        self._check(user_id, fields)
        return {
            **fields.profile(keep_unset=True),
            "metadata": new_metadata(
                fields.metadata,
                "metadata",
                may_write_reserved=self.access.may_write_reserved_metadata,
            ),
        }

    async def add(self, user_id: str, fields: UserFields | None = None) -> UserDoc:
        """Create a user; a soft-deleted user with this id is replaced by the new one."""
        stored = await self.check_add(user_id, fields or UserFields())
        raw = await create_or_revive(
            self.collection,
            {"userId": user_id},
            stored,
            taken=AlreadyExists(f"a user with userId {user_id!r} already exists", field="userId"),
        )
        self.deleted_users.note(user_id, deleted=False)
        return UserDoc.from_mongo(raw)

    async def get_many(self, user_ids: Iterable[str]) -> list[UserDoc]:
        """The live users with these userIds that the caller may see."""
        wanted = [user_id for user_id in user_ids if self.access.may_see(user_id)]
        if not wanted:
            return []
        raws = await self.collection.find({"userId": any_of(wanted), **LIVE}).to_list(None)
        return [UserDoc.from_mongo(raw) for raw in raws]

    async def get(
        self, user_id: str, load: Callable[[str], Awaitable[UserDoc | None]] | None = None
    ) -> UserDoc | None:
        """The live user with this userId, or None when there is none; a user token asking for
        another user is FORBIDDEN, whether or not it exists. `load` fetches it (a request's
        DataLoader, say); without it, one query."""
        check_identifier(user_id, "userId")
        doc = await (load or self._get_one)(user_id)
        if doc is None:
            self.access.unseen_user(user_id)
        return doc

    async def _get_one(self, user_id: str) -> UserDoc | None:
        found = await self.get_many([user_id])
        return found[0] if found else None

    async def get_many_by_ids(self, ids: Iterable[ObjectId]) -> list[UserDoc]:
        match = {"_id": any_of(ids), **LIVE, **self.access.belonging()}
        raws = await self.collection.find(match).to_list(None)
        return [UserDoc.from_mongo(raw) for raw in raws]

    async def check_update(self, user_id: str, fields: UserFields) -> JsonObject | None:
        """The metadata patch `update` merges, once every rule it can be refused by before
        writing holds."""
        self._check(user_id, fields)
        if fields.metadata is None:
            return None
        return checked_patch(
            fields.metadata, "metadata", may_write_reserved=self.access.may_write_reserved_metadata
        )

    async def update(self, user_id: str, fields: UserFields) -> UserDoc:
        """Change the fields given (None leaves a field as it is) and merge the metadata."""
        patch = await self.check_update(user_id, fields)
        raw = await update_merging_metadata(
            self.collection,
            {"userId": user_id, **LIVE},
            patch,
            set_fields={**fields.profile(keep_unset=False), "updatedAt": utc_now()},
        )
        if raw is None:
            raise _no_user(user_id)
        return UserDoc.from_mongo(raw)

    async def check_delete(self, user_id: str) -> None:
        check_identifier(user_id, "userId")
        self.access.check_acting_for(user_id, "userId")

    async def delete(self, user_id: str) -> UserDoc:
        """Soft-delete the user's live sessions and their memories, then the user.

        Children first (see `SessionStore._delete`): until the user is marked, a cascade cut by
        a failover leaves it live, and a retry finishes the job. Sessions added for the user
        while the cascade ran are deleted after it, once no more can be added."""
        await self.check_delete(user_id)
        if await self.collection.find_one({"userId": user_id, **LIVE}, {"_id": 1}) is None:
            raise _no_user(user_id)
        now = utc_now()
        await self.sessions.delete_of_user(user_id, now)
        raw = await self.collection.find_one_and_update(
            {"userId": user_id, **LIVE}, soft_delete(now), return_document=ReturnDocument.AFTER
        )
        if raw is None:  # deleted meanwhile by another call
            raise _no_user(user_id)
        self.deleted_users.note(user_id, deleted=True)
        await self.sessions.delete_of_user(user_id, now)
        return UserDoc.from_mongo(raw)

    def list(self) -> KeysetQuery[UserDoc]:
        """The live users the caller may see, oldest first."""
        base = {**LIVE, **self.access.belonging()}
        return KeysetQuery(self.collection, base, self.order, UserDoc.from_mongo)

    async def purge(self, deleted: Document) -> int:
        """Hard-delete the users whose `deletedAt` matches `deleted`."""
        result = await self.collection.delete_many({"deletedAt": deleted})
        return result.deleted_count
