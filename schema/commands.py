"""One command per mutation: built once from the field's arguments (`of`), checked before a
document of several mutation fields writes anything (`check`, schema.guards.preflight), and
run by the field's resolver (`run`). The rules themselves are the stores' (app.store): a
command names which of them its mutation runs, so a mutation's check and its write are one
object.

Adding a mutation is one command class here and one resolver line in schema.mutations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, Self, TypeVar

from app.errors import BadUserInput
from app.metadata import JsonObject
from app.store import PurgeCounts, ViewerStore
from app.store.memories import NewMemory
from app.store.users import UserFields
from app.validation import parse_uuid
from schema.global_ids import from_global_id
from schema.scalars import json_argument

if TYPE_CHECKING:
    from app.documents import MemoryDoc, SessionDoc, UserDoc
    from schema.mutations import (
        AddMemoryInput,
        AddSessionInput,
        AddUserInput,
        UpdateMemoryInput,
        UpdateSessionInput,
        UpdateUserInput,
    )

R = TypeVar("R", covariant=True)


class Command(Protocol[R]):
    """What a mutation does, for the caller's store."""

    in_input: ClassVar[bool]
    """Whether its errors name fields inside the mutation's `input` object."""

    async def check(self, store: ViewerStore) -> None:
        """Every rule the write can be refused by that no earlier mutation field changes."""

    async def run(self, store: ViewerStore) -> R:
        """The write, its own rules checked again."""


def user_fields(input: AddUserInput | UpdateUserInput) -> UserFields:
    return UserFields(
        email=input.email,
        first_name=input.first_name,
        last_name=input.last_name,
        metadata=json_argument(input.metadata),
    )


def memory_uuid(value: str) -> str:
    """A memory's uuid from its global ID or from the uuid itself."""
    if (as_uuid := parse_uuid(value)) is not None:
        return as_uuid
    type_name, key = from_global_id(value, "id")
    if type_name != "Memory" or (as_uuid := parse_uuid(key)) is None:
        raise BadUserInput("id is neither a memory's global ID nor its uuid", field="id")
    return as_uuid


@dataclass(frozen=True)
class _UserCommand:
    """A write of a user's fields, named by its `input` object."""

    in_input: ClassVar[bool] = True
    user_id: str
    fields: UserFields

    @classmethod
    def of(cls, input: AddUserInput | UpdateUserInput) -> Self:
        return cls(input.user_id, user_fields(input))


class AddUser(_UserCommand):
    async def check(self, store: ViewerStore) -> None:
        await store.users.check_add(self.user_id, self.fields)

    async def run(self, store: ViewerStore) -> UserDoc:
        return await store.users.add(self.user_id, self.fields)


class UpdateUser(_UserCommand):
    async def check(self, store: ViewerStore) -> None:
        await store.users.check_update(self.user_id, self.fields)

    async def run(self, store: ViewerStore) -> UserDoc:
        return await store.users.update(self.user_id, self.fields)


@dataclass(frozen=True)
class DeleteUser:
    in_input: ClassVar[bool] = False
    user_id: str

    @classmethod
    def of(cls, user_id: str) -> Self:
        return cls(user_id)

    async def check(self, store: ViewerStore) -> None:
        await store.users.check_delete(self.user_id)

    async def run(self, store: ViewerStore) -> UserDoc:
        return await store.users.delete(self.user_id)


@dataclass(frozen=True)
class _SessionCommand:
    """A write of a session's fields, named by its `input` object."""

    in_input: ClassVar[bool] = True
    session_id: str
    user_id: str | None
    metadata: JsonObject | None

    @classmethod
    def of(cls, input: AddSessionInput | UpdateSessionInput) -> Self:
        return cls(input.session_id, input.user_id, json_argument(input.metadata))


class AddSession(_SessionCommand):
    async def check(self, store: ViewerStore) -> None:
        await store.sessions.check_add(
            self.session_id, user_id=self.user_id, metadata=self.metadata
        )

    async def run(self, store: ViewerStore) -> SessionDoc:
        return await store.sessions.add(
            self.session_id, user_id=self.user_id, metadata=self.metadata
        )


class UpdateSession(_SessionCommand):
    async def check(self, store: ViewerStore) -> None:
        await store.sessions.check_update(
            self.session_id, user_id=self.user_id, metadata=self.metadata
        )

    async def run(self, store: ViewerStore) -> SessionDoc:
        return await store.sessions.update(
            self.session_id, user_id=self.user_id, metadata=self.metadata
        )


@dataclass(frozen=True)
class _WriteToSession:
    """A write to one session, by its `sessionId` argument: refused for a session another user
    holds."""

    in_input: ClassVar[bool] = False
    session_id: str

    @classmethod
    def of(cls, session_id: str) -> Self:
        return cls(session_id)

    async def check(self, store: ViewerStore) -> None:
        await store.sessions.check_writable(self.session_id)


class DeleteSession(_WriteToSession):
    async def run(self, store: ViewerStore) -> SessionDoc:
        return await store.sessions.delete(self.session_id)


class DeleteMemories(_WriteToSession):
    async def run(self, store: ViewerStore) -> tuple[SessionDoc, int]:
        return await store.memories.delete_all(self.session_id)


@dataclass(frozen=True)
class AddMemory:
    in_input: ClassVar[bool] = True
    session_id: str
    memories: tuple[NewMemory, ...]

    @classmethod
    def of(cls, input: AddMemoryInput) -> Self:
        return cls(
            input.session_id,
            tuple(
                NewMemory(
                    role=memory.role,
                    content=memory.content,
                    role_type=memory.role_type,
                    metadata=json_argument(memory.metadata),
                )
                for memory in input.memories
            ),
        )

    async def check(self, store: ViewerStore) -> None:
        await store.memories.check_add(self.session_id, self.memories)

    async def run(self, store: ViewerStore) -> tuple[SessionDoc, list[MemoryDoc]]:
        return await store.memories.add(self.session_id, self.memories)


@dataclass(frozen=True)
class UpdateMemory:
    in_input: ClassVar[bool] = True
    memory_uuid: str
    metadata: JsonObject

    @classmethod
    def of(cls, input: UpdateMemoryInput) -> Self:
        return cls(memory_uuid(input.id), json_argument(input.metadata))

    async def check(self, store: ViewerStore) -> None:
        await store.memories.check_update(self.memory_uuid, self.metadata)

    async def run(self, store: ViewerStore) -> MemoryDoc:
        return await store.memories.update(self.memory_uuid, self.metadata)


@dataclass(frozen=True)
class PurgeDeleted:
    in_input: ClassVar[bool] = False

    @classmethod
    def of(cls) -> Self:
        return cls()

    async def check(self, store: ViewerStore) -> None:
        await store.check_purge()

    async def run(self, store: ViewerStore) -> PurgeCounts:
        return await store.purge_deleted()
