"""Mutation fields: each takes one input object (or an identifier) and returns a payload."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver, SyncExtensionResolver

from app.errors import BadUserInput, MemqlError
from app.roles import RoleType
from app.store.memories import NewMemory
from app.store.users import UserFields
from app.validation import parse_uuid
from schema.errors import input_field
from schema.global_ids import from_global_id
from schema.pagination import ListSize, sized_list_field
from schema.preflight import CHECK, Check
from schema.scalars import JSON, json_argument
from schema.types import Info, Memory, Session, User


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


def new_memories(input: AddMemoryInput) -> list[NewMemory]:
    return [
        NewMemory(
            role=memory.role,
            content=memory.content,
            role_type=memory.role_type,
            metadata=json_argument(memory.metadata),
        )
        for memory in input.memories
    ]


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


def mutation(*, check: Check, **options: Any) -> Any:
    """A mutation field; `check` (the caller's store and the field's arguments) runs the store's
    rules that no earlier field can change, before a document of several fields writes."""
    return strawberry.mutation(extensions=[MutationField()], metadata={CHECK: check}, **options)


@strawberry.type
class Mutation:
    @mutation(check=lambda store, input: store.users.check_add(input.user_id, user_fields(input)))
    async def add_user(self, info: Info, input: AddUserInput) -> UserPayload:
        with input_field("input"):
            doc = await info.context.store.users.add(input.user_id, user_fields(input))
        return UserPayload(user=User.from_doc(doc))

    @mutation(
        check=lambda store, input: store.users.check_update(input.user_id, user_fields(input))
    )
    async def update_user(self, info: Info, input: UpdateUserInput) -> UserPayload:
        with input_field("input"):
            doc = await info.context.store.users.update(input.user_id, user_fields(input))
        return UserPayload(user=User.from_doc(doc))

    @mutation(
        check=lambda store, user_id: store.users.check_delete(user_id),
        description="Soft-deletes the user, its sessions and their memories.",
    )
    async def delete_user(self, info: Info, user_id: str) -> DeletePayload:
        doc = await info.context.store.users.delete(user_id)
        return DeletePayload(deleted_id=User.from_doc(doc).id)

    @mutation(
        check=lambda store, input: store.sessions.check_add(
            input.session_id, user_id=input.user_id, metadata=json_argument(input.metadata)
        )
    )
    async def add_session(self, info: Info, input: AddSessionInput) -> SessionPayload:
        with input_field("input"):
            doc = await info.context.store.sessions.add(
                input.session_id,
                user_id=input.user_id,
                metadata=json_argument(input.metadata),
            )
        return SessionPayload(session=Session.from_doc(doc, info.context))

    @mutation(
        check=lambda store, input: store.sessions.check_update(
            input.session_id, user_id=input.user_id, metadata=json_argument(input.metadata)
        )
    )
    async def update_session(self, info: Info, input: UpdateSessionInput) -> SessionPayload:
        with input_field("input"):
            doc = await info.context.store.sessions.update(
                input.session_id,
                user_id=input.user_id,
                metadata=json_argument(input.metadata),
            )
        return SessionPayload(session=Session.from_doc(doc, info.context))

    @mutation(
        check=lambda store, session_id: store.sessions.check_writable(session_id),
        description="Soft-deletes the session and all its memories.",
    )
    async def delete_session(self, info: Info, session_id: str) -> DeletePayload:
        doc = await info.context.store.sessions.delete(session_id)
        return DeletePayload(deleted_id=Session.from_doc(doc, info.context).id)

    @mutation(
        check=lambda store, input: store.memories.check_add(input.session_id, new_memories(input))
    )
    async def add_memory(self, info: Info, input: AddMemoryInput) -> AddMemoryPayload:
        with input_field("input"):
            session, stored = await info.context.store.memories.add(
                input.session_id, new_memories(input)
            )
        parent = Session.from_doc(session, info.context)
        return AddMemoryPayload(
            session=parent,
            memories=[Memory.from_doc(doc, info.context, session=parent) for doc in stored],
        )

    @mutation(
        check=lambda store, input: store.memories.check_update(
            memory_uuid(input.id), json_argument(input.metadata)
        )
    )
    async def update_memory(self, info: Info, input: UpdateMemoryInput) -> MemoryPayload:
        with input_field("input"):
            doc = await info.context.store.memories.update(
                memory_uuid(input.id),
                json_argument(input.metadata),
            )
        return MemoryPayload(memory=Memory.from_doc(doc, info.context))

    @mutation(
        check=lambda store, session_id: store.sessions.check_writable(session_id),
        description="Soft-deletes every memory of the session; the session stays.",
    )
    async def delete_memories(self, info: Info, session_id: str) -> DeleteMemoriesPayload:
        session, count = await info.context.store.memories.delete_all(session_id)
        return DeleteMemoriesPayload(
            session=Session.from_doc(session, info.context), deleted_count=count
        )

    @mutation(
        check=lambda store: store.check_purge(),
        description="Hard-deletes everything soft-deleted now, without waiting for the TTL "
        "(admin only).",
    )
    async def purge_deleted(self, info: Info) -> PurgePayload:
        counts = await info.context.store.purge_deleted()
        return PurgePayload(users=counts.users, sessions=counts.sessions, memories=counts.memories)
