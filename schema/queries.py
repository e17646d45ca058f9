"""Query fields: nodes by global ID, users and sessions by the caller's identifiers, lists."""

from __future__ import annotations

from functools import partial
from typing import cast

import strawberry

from app.errors import BadUserInput
from app.store.keyset import PageRequest
from app.validation import parse_object_id, parse_uuid
from schema.filters import SessionFilter, session_filter
from schema.global_ids import from_global_id
from schema.pagination import (
    SESSIONS,
    USERS,
    Connection,
    ListSize,
    connection_field,
    sized_list_field,
)
from schema.search import SEARCH, MemorySearchConnection, search_memories
from schema.types import Info, Memory, Node, Session, User


async def load_node(info: Info, global_id: str, field: str = "id") -> Node | None:
    type_name, key = from_global_id(global_id, field)
    loaders = info.context.loaders
    node: Node | None = None
    if type_name == "Memory":
        memory_uuid = parse_uuid(key)
        memory = await loaders.memory_by_uuid.load(memory_uuid) if memory_uuid else None
        node = Memory.from_doc(memory, info.context) if memory else None
    elif type_name == "User":
        object_id = parse_object_id(key)
        user = await loaders.user_by_id.load(object_id) if object_id else None
        node = User.from_doc(user) if user else None
    elif type_name == "Session":
        object_id = parse_object_id(key)
        session = await loaders.session_by_id.load(object_id) if object_id else None
        node = Session.from_doc(session, info.context) if session else None
    if node is None:
        info.context.store.access.unseen("node", global_id, field)
    return node


@strawberry.type
class Query:
    @strawberry.field(description="The live object with this global ID, or null.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await load_node(info, id)

    @sized_list_field(
        ListSize("ids"), description="The live objects with these global IDs, null where none."
    )
    def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        limit = info.context.settings.max_page_size
        if len(ids) > limit:
            raise BadUserInput(f"ids holds {len(ids)} IDs; the limit is {limit}", field="ids")
        # One awaitable per item, which GraphQL execution awaits one by one: an error (a
        # FORBIDDEN id, say) nulls only its own entry instead of the whole list.
        pending = [load_node(info, gid, f"ids[{index}]") for index, gid in enumerate(ids)]
        return cast("list[Node | None]", pending)

    @strawberry.field(description="null when no live user has this userId.")
    async def user(self, info: Info, user_id: str) -> User | None:
        doc = await info.context.store.users.get(
            user_id, load=info.context.loaders.user_by_user_id.load
        )
        return User.from_doc(doc) if doc else None

    @connection_field(USERS, description="All live users, oldest first.")
    async def users(self, info: Info, page: PageRequest) -> Connection[User]:
        return await USERS.resolve(info.context.store.users.list(), page, User.from_doc)

    @strawberry.field(
        description="null when no live session has this sessionId (deleted sessions are not "
        "returned)."
    )
    async def session(self, info: Info, session_id: str) -> Session | None:
        doc = await info.context.store.sessions.get(
            session_id, load=info.context.loaders.session_by_session_id.load
        )
        return Session.from_doc(doc, info.context) if doc else None

    @connection_field(
        SESSIONS,
        description=(
            "All live sessions, oldest first; `userId` narrows to one user's sessions, "
            "`filter` to those it matches."
        ),
    )
    async def sessions(
        self,
        info: Info,
        page: PageRequest,
        user_id: str | None = None,
        filter: SessionFilter | None = None,
    ) -> Connection[Session]:
        query = info.context.store.sessions.list(user_id=user_id, where=session_filter(filter))
        return await SESSIONS.resolve(query, page, partial(Session.from_doc, context=info.context))

    @connection_field(
        SEARCH,
        description=(
            "The live memories containing words of `text` (case and accents ignored), best "
            "first by BM25 relevance, ties newest first: in the session `sessionId`, in the "
            "sessions of `userId`, or without either in every session the caller may see. "
            "Pages stay exact while memories are added: each considers what the first did."
        ),
    )
    async def search_memories(
        self,
        info: Info,
        page: PageRequest,
        text: str,
        session_id: str | None = None,
        user_id: str | None = None,
    ) -> MemorySearchConnection:
        return await search_memories(info, text, session_id, user_id, page)
