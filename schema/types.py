"""The GraphQL object types of the contract: Node, User, Session, Memory and RoleType."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from functools import partial
from typing import TypeVar

import strawberry

from app.documents import MemoryDoc, SessionDoc, UserDoc
from app.errors import NotFound
from app.roles import RoleType
from app.store.keyset import PageRequest
from schema.context import Context
from schema.filters import SessionFilter, session_filter
from schema.global_ids import to_global_id
from schema.lazy import Lazy
from schema.pagination import MEMORIES, SESSIONS, Connection, connection_field
from schema.scalars import JSON

Info = strawberry.Info[Context, None]
T = TypeVar("T")

strawberry.enum(
    RoleType, description="Who spoke a memory, in the vocabulary of chat-completion APIs."
)


@strawberry.interface(description="An object with a stable, opaque global ID.")
class Node:
    id: strawberry.ID


@strawberry.type(description="A person using the chat application (Zep's user).")
class User(Node):
    user_id: str = strawberry.field(
        description="The caller's own identifier for the user (Zep's user_id)."
    )
    email: str | None
    first_name: str | None
    last_name: str | None
    metadata: JSON
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_doc(cls, doc: UserDoc) -> User:
        return cls(
            id=strawberry.ID(to_global_id("User", str(doc.id))),
            user_id=doc.user_id,
            email=doc.email,
            first_name=doc.first_name,
            last_name=doc.last_name,
            metadata=JSON(doc.metadata),
            created_at=doc.created_at,
            updated_at=doc.updated_at,
        )

    @connection_field(
        SESSIONS,
        description="The user's live sessions, oldest first; `filter` keeps those it matches.",
    )
    async def sessions(
        self, info: Info, page: PageRequest, filter: SessionFilter | None = None
    ) -> Connection[Session]:
        loaders = info.context.loaders.sessions_of_user(session_filter(filter))
        return await loaders.connection(
            self.user_id, page, lambda doc: Session.from_doc(doc, info.context, user=self)
        )


@strawberry.type(description="A conversation: an ordered list of memories (Zep's session).")
class Session(Node):
    session_id: str = strawberry.field(
        description="The caller's own identifier for the conversation (Zep's session_id)."
    )
    user_id: str | None
    metadata: JSON
    created_at: datetime
    updated_at: datetime
    # An attribute rather than a resolver: the user at hand (the session was listed under it),
    # or loaded when execution awaits it. Fields without arguments or a resolver cost execution
    # the least, and a session's user is asked for once per session listed.
    user: User | Awaitable[User | None] | None = strawberry.field(
        description="The user the session belongs to, if any and still live.",
        graphql_type=User | None,
    )

    @classmethod
    def from_doc(cls, doc: SessionDoc, context: Context, *, user: User | None = None) -> Session:
        owner: User | Awaitable[User | None] | None = user
        if user is None and doc.user_id is not None:
            owner = Lazy(partial(_load_user, context, doc.user_id))
        return cls(
            id=strawberry.ID(to_global_id("Session", str(doc.id))),
            session_id=doc.session_id,
            user_id=doc.user_id,
            metadata=JSON(doc.metadata),
            created_at=doc.created_at,
            updated_at=doc.updated_at,
            user=owner,
        )

    @connection_field(
        MEMORIES,
        description=(
            "The session's live memories in the order they were added; "
            "`last: n` gives the n most recent."
        ),
    )
    async def memories(self, info: Info, page: PageRequest) -> Connection[Memory]:
        context = info.context
        return await context.loaders.memories_of_session.connection(
            self.session_id, page, lambda doc: Memory.from_doc(doc, context, session=self)
        )


@strawberry.type(description="One chat message stored in a session.")
class Memory(Node):
    uuid: str
    session_id: str
    role: str = strawberry.field(description="Free-form speaker name, e.g. 'human', 'ai', 'Alice'.")
    role_type: RoleType | None
    content: str
    metadata: JSON
    created_at: datetime
    updated_at: datetime
    # The session at hand (the memory was listed under it), or loaded when awaited: asked for
    # once per memory listed, it has no resolver of its own (see Session.user).
    session: Session | Awaitable[Session] = strawberry.field(
        description="The session the memory belongs to.", graphql_type=Session
    )

    @classmethod
    def from_doc(
        cls, doc: MemoryDoc, context: Context, *, session: Session | None = None
    ) -> Memory:
        return cls(
            id=strawberry.ID(to_global_id("Memory", doc.uuid)),
            uuid=doc.uuid,
            session_id=doc.session_id,
            role=doc.role,
            role_type=doc.role_type,
            content=doc.content,
            metadata=JSON(doc.metadata),
            created_at=doc.created_at,
            updated_at=doc.updated_at,
            session=session or Lazy(partial(_load_session, context, doc.session_id, doc.uuid)),
        )


async def _load_user(context: Context, user_id: str) -> User | None:
    doc = await context.loaders.user_by_user_id.load(user_id)
    return User.from_doc(doc) if doc else None


async def _load_session(context: Context, session_id: str, memory_uuid: str) -> Session:
    doc = await context.loaders.session_by_session_id.load(session_id)
    if doc is None:
        raise NotFound(f"the session of memory {memory_uuid!r} is deleted")
    return Session.from_doc(doc, context)
