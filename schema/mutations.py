"""Mutation fields: each takes one input object (or an identifier) and returns a payload."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, TypeVar, cast

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver, SyncExtensionResolver

from app.errors import MemqlError
from app.roles import RoleType
from schema.commands import (
    AddMemory,
    AddSession,
    AddUser,
    Command,
    DeleteMemories,
    DeleteSession,
    DeleteUser,
    PurgeDeleted,
    UpdateMemory,
    UpdateSession,
    UpdateUser,
)
from schema.errors import input_field
from schema.guards.preflight import COMMAND
from schema.pagination import ListSize, sized_list_field
from schema.scalars import JSON
from schema.types import Info, Memory, Session, User

R = TypeVar("R")


@strawberry.input
class AddUserInput:
    user_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    metadata: JSON | None = None


@strawberry.input(
    description="Fields left out (or null) are unchanged; metadata is merged into what is stored."
)
class UpdateUserInput:
    user_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    metadata: JSON | None = None


@strawberry.input
class AddSessionInput:
    session_id: str
    user_id: str | None = None
    metadata: JSON | None = None


@strawberry.input(
    description="Metadata is merged into what is stored; `userId` (when given) associates the "
    "session."
)
class UpdateSessionInput:
    session_id: str
    user_id: str | None = None
    metadata: JSON | None = None


@strawberry.input
class MemoryInput:
    role: str
    content: str
    role_type: RoleType | None = None
    metadata: JSON | None = None


@strawberry.input(
    description="Adds memories to a session, creating the session (or undeleting it) as needed."
)
class AddMemoryInput:
    session_id: str
    memories: list[MemoryInput]


@strawberry.input
class UpdateMemoryInput:
    id: strawberry.ID = strawberry.field(description="The memory's global ID or its uuid.")
    metadata: JSON


@strawberry.type
class UserPayload:
    user: User


@strawberry.type
class SessionPayload:
    session: Session


@strawberry.type
class AddMemoryPayload:
    session: Session
    memories: list[Memory] = sized_list_field(
        ListSize("input.memories", of_parent=True),
        description="The memories just stored, in order.",
    )


@strawberry.type
class MemoryPayload:
    memory: Memory


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID = strawberry.field(description="Global ID of what was deleted.")


@strawberry.type
class DeleteMemoriesPayload:
    session: Session
    deleted_count: int


@strawberry.type
class PurgePayload:
    users: int
    sessions: int
    memories: int


class MutationField(FieldExtension):
    """Mutation fields run one after another, each with its payload. Each starts with empty
    loaders, so a payload shows what the mutations before it in the document changed; and an
    error after others ran names them (they wrote) in `extensions.completed`."""

    def resolve(
        self, next_: SyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:  # pragma: no cover - every mutation is async
        raise NotImplementedError("mutation fields are async")

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        context = info.context
        context.renew_loaders()
        try:
            result = await next_(source, info, **kwargs)
        except MemqlError as error:
            error.completed = list(context.completed_mutations) or None
            raise
        context.completed_mutations.append(str(info.path.key))
        return result


def mutation(command: type[Command[Any]], **options: Any) -> Any:
    """A mutation field that runs `command` (schema.commands), checked before a document of
    several mutation fields writes anything (schema.guards.preflight)."""
    return strawberry.mutation(extensions=[MutationField()], metadata={COMMAND: command}, **options)


async def run(info: Info, command: type[Command[R]], **arguments: Any) -> R:
    """`command` built from the field's arguments and run for the caller; an error names its
    field inside the `input` object, as the preflight names it."""
    with input_field("input") if command.in_input else nullcontext():
        built: Command[R] = cast(Any, command).of(**arguments)  # each command's own `of`
        return await built.run(info.context.store)


@strawberry.type
class Mutation:
    @mutation(AddUser)
    async def add_user(self, info: Info, input: AddUserInput) -> UserPayload:
        return UserPayload(user=User.from_doc(await run(info, AddUser, input=input)))

    @mutation(UpdateUser)
    async def update_user(self, info: Info, input: UpdateUserInput) -> UserPayload:
        return UserPayload(user=User.from_doc(await run(info, UpdateUser, input=input)))

    @mutation(DeleteUser, description="Soft-deletes the user, its sessions and their memories.")
    async def delete_user(self, info: Info, user_id: str) -> DeletePayload:
        doc = await run(info, DeleteUser, user_id=user_id)
        return DeletePayload(deleted_id=User.from_doc(doc).id)

    @mutation(AddSession)
    async def add_session(self, info: Info, input: AddSessionInput) -> SessionPayload:
        doc = await run(info, AddSession, input=input)
        return SessionPayload(session=Session.from_doc(doc, info.context))

    @mutation(UpdateSession)
    async def update_session(self, info: Info, input: UpdateSessionInput) -> SessionPayload:
        doc = await run(info, UpdateSession, input=input)
        return SessionPayload(session=Session.from_doc(doc, info.context))

    @mutation(DeleteSession, description="Soft-deletes the session and all its memories.")
    async def delete_session(self, info: Info, session_id: str) -> DeletePayload:
        doc = await run(info, DeleteSession, session_id=session_id)
        return DeletePayload(deleted_id=Session.from_doc(doc, info.context).id)

    @mutation(AddMemory)
    async def add_memory(self, info: Info, input: AddMemoryInput) -> AddMemoryPayload:
        session, stored = await run(info, AddMemory, input=input)
        parent = Session.from_doc(session, info.context)
        return AddMemoryPayload(
            session=parent,
            memories=[Memory.from_doc(doc, info.context, session=parent) for doc in stored],
        )

    @mutation(UpdateMemory)
    async def update_memory(self, info: Info, input: UpdateMemoryInput) -> MemoryPayload:
        doc = await run(info, UpdateMemory, input=input)
        return MemoryPayload(memory=Memory.from_doc(doc, info.context))

    @mutation(
        DeleteMemories, description="Soft-deletes every memory of the session; the session stays."
    )
    async def delete_memories(self, info: Info, session_id: str) -> DeleteMemoriesPayload:
        session, count = await run(info, DeleteMemories, session_id=session_id)
        return DeleteMemoriesPayload(
            session=Session.from_doc(session, info.context), deleted_count=count
        )

    @mutation(
        PurgeDeleted,
        description="Hard-deletes everything soft-deleted now, without waiting for the TTL "
        "(admin only).",
    )
    async def purge_deleted(self, info: Info) -> PurgePayload:
        counts = await run(info, PurgeDeleted)
        return PurgePayload(users=counts.users, sessions=counts.sessions, memories=counts.memories)
