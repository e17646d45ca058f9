"""Query fields: nodes by global ID, users and sessions by the caller's identifiers, lists."""

from __future__ import annotations

from typing import cast

import strawberry

from app.errors import BadUserInput
from app.store.access import no_access
from app.validation import check_identifier, parse_uuid
from schema.ids import from_global_id, parse_object_id
from schema.pagination import Connection, page_request, resolve_connection
from schema.permissions import visible
from schema.types import Info, Memory, Node, Session, User


async def load_node(info: Info, global_id: str, field: str = "id") -> Node | None:
    type_name, key = from_global_id(global_id, field)
    context = info.context
    loaders, viewer = context.loaders, context.viewer
    where = {"what": "node", "key": global_id, "field": field}
    if type_name == "Memory":
        memory_uuid = parse_uuid(key)
        memory = await loaders.memory_by_uuid.load(memory_uuid) if memory_uuid else None
        owner = None
        if memory is not None and not viewer.admin:
            session = await loaders.session_by_session_id.load(memory.session_id)
            owner = session.user_id if session else None
        memory = visible(viewer, memory, owner, **where)
        return Memory.from_doc(memory) if memory else None
    object_id = parse_object_id(key)
    if type_name == "User":
        user = await loaders.user_by_id.load(object_id) if object_id else None
        user = visible(viewer, user, user.user_id if user else None, **where)
        return User.from_doc(user) if user else None
    if type_name == "Session":
        session = await loaders.session_by_id.load(object_id) if object_id else None
        session = visible(viewer, session, session.user_id if session else None, **where)
        return Session.from_doc(session) if session else None
    return visible(viewer, None, None, **where)


@strawberry.type
class Query:
    @strawberry.field(description="The live object with this global ID, or null.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await load_node(info, id)

    @strawberry.field(description="The live objects with these global IDs, null where none.")
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
        check_identifier(user_id, "userId")
        context = info.context
        if not context.viewer.can_see(user_id):
            raise no_access("user", user_id, "userId")
        doc = await context.loaders.user_by_user_id.load(user_id)
        return User.from_doc(doc) if doc else None

    @strawberry.field(description="All live users, oldest first.")
    async def users(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[User]:
        context = info.context
        request = page_request(
            "user", context.settings, first=first, after=after, last=last, before=before
        )
        query = context.store.users.list(owner=context.viewer.owner)
        return await resolve_connection("user", query, request, User.from_doc)

    @strawberry.field(
        description="null when no live session has this sessionId (deleted sessions are not "
        "returned)."
    )
    async def session(self, info: Info, session_id: str) -> Session | None:
        check_identifier(session_id, "sessionId")
        context = info.context
        doc = await context.loaders.session_by_session_id.load(session_id)
        doc = visible(
            context.viewer,
            doc,
            doc.user_id if doc else None,
            what="session",
            key=session_id,
            field="sessionId",
        )
        return Session.from_doc(doc) if doc else None

    @strawberry.field(
        description="All live sessions, oldest first; `userId` narrows to one user's sessions."
    )
    async def sessions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        user_id: str | None = None,
    ) -> Connection[Session]:
        context = info.context
        if user_id is not None:
            check_identifier(user_id, "userId")
        request = page_request(
            "session", context.settings, first=first, after=after, last=last, before=before
        )
        query = context.store.sessions.list(user_id=user_id, owner=context.viewer.owner)
        return await resolve_connection("session", query, request, Session.from_doc)
