"""Zep v0.27's routes, those zep-python 1.5.0 and LangChain call: each reads its input, calls the
stores GraphQL's resolvers call (every rule is theirs) and answers in Zep's shapes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from app.db import first_line
from app.errors import BadUserInput, MemqlError, NotFound, database_outage
from app.metadata import checked_patch
from app.settings import Settings
from app.store import Store, ViewerStore
from app.store.keyset import PageRequest
from app.store.memories import NewMemory
from app.store.offset_pages import offset_page
from app.store.users import UserFields
from app.validation import check_page_size
from app.web.callers import caller
from app.web.zep import API, MOUNT
from app.web.zep.errors import NOT_FOUND_TEXT, Unsupported, zep_error
from app.web.zep.inputs import (
    B,
    MemoryBody,
    MessageBody,
    NewSessionBody,
    NewUserBody,
    SearchBody,
    SessionBody,
    UserBody,
    message_uuid,
    query_int,
    read_body,
)
from app.web.zep.shapes import (
    message_json,
    role_type_of,
    search_result_json,
    session_json,
    user_json,
)

D = TypeVar("D")

MEMORY_WINDOW = 12
"""Zep's default message window: the messages GET .../memory returns without `lastn`."""
OK = "OK"
"""Zep's body for a write that returns nothing else."""
EVERY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE")

logger = logging.getLogger("memql.zep")


class ZepCall:
    """One request to a Zep route, from a caller `app.web.callers.caller` let in."""

    def __init__(self, request: Request, stores: ViewerStore, settings: Settings) -> None:
        self.request = request
        self.stores = stores
        self.settings = settings

    def path(self, name: str) -> str:
        value: str = self.request.path_params[name]
        return value

    async def body(self, shape: type[B]) -> B:
        return await read_body(self.request, shape)

    def limit(self, name: str = "limit", default: int | None = None) -> int:
        """A page size: absent (or Zep's 0, "no limit") is `default`, else the largest page."""
        maximum = self.settings.max_page_size
        size = query_int(self.request, name)
        if not size:
            return min(default, maximum) if default is not None else maximum
        check_page_size(size, name, maximum)
        return size

    def offset(self) -> int:
        """Zep's `cursor` of sessions and users: how many live items come before the page."""
        cursor = query_int(self.request, "cursor") or 0
        if cursor < 0:
            raise BadUserInput("cursor must not be negative", field="cursor")
        if cursor > MAX_OFFSET:
            raise BadUserInput(f"cursor is too large: at most {MAX_OFFSET}", field="cursor")
        return cursor


Handler = Callable[[ZepCall], Awaitable[Response]]
MAX_OFFSET = 2**53
"""The most items a Zep page may skip: MongoDB encodes `skip` as a 64-bit integer (a page number
times a page size could overflow it), and no list holds more."""


def found(doc: D | None) -> D:
    if doc is None:
        raise NotFound(NOT_FOUND_TEXT)
    return doc


# Sessions


async def list_sessions(call: ZepCall) -> Response:
    docs = await offset_page(call.stores.sessions.list(), call.offset(), call.limit())
    return JSONResponse([session_json(doc) for doc in docs])


async def add_session(call: ZepCall) -> Response:
    body = await call.body(NewSessionBody)
    doc = await call.stores.sessions.add(
        body.session_id, user_id=body.user_id, metadata=body.metadata
    )
    return JSONResponse(session_json(doc), 201)


async def get_session(call: ZepCall) -> Response:
    doc = found(await call.stores.sessions.get(call.path("session_id")))
    return JSONResponse(session_json(doc))


async def update_session(call: ZepCall) -> Response:
    body = await call.body(SessionBody)
    doc = await call.stores.sessions.update(
        call.path("session_id"), user_id=body.user_id, metadata=body.metadata
    )
    return JSONResponse(session_json(doc))


# Memory: a session's latest messages; adding them; deleting the session


async def get_memory(call: ZepCall) -> Response:
    session_id = call.path("session_id")
    lastn = query_int(call.request, "lastn")
    if lastn is not None and lastn <= 0:
        raise BadUserInput("lastn must be greater than 0", field="lastn")
    window = call.limit("lastn", default=MEMORY_WINDOW)
    found(await call.stores.sessions.get(session_id))
    pages = await call.stores.memories.of_sessions().pages(
        [session_id], PageRequest(limit=window, backward=True)
    )
    messages = [message_json(doc) for doc in pages[session_id].items]
    return JSONResponse({"messages": messages, "summary": None})


async def add_memory(call: ZepCall) -> Response:
    body = await call.body(MemoryBody)
    if body.summary is not None:
        raise Unsupported("summaries")
    # Zep ignored a memory's own metadata, and so does memql; checked like any metadata write
    # all the same (its `system` key is an admin's), so nothing is accepted here that is
    # refused elsewhere.
    checked_patch(
        body.metadata or {},
        "metadata",
        may_write_reserved=call.stores.access.may_write_reserved_metadata,
    )
    await call.stores.memories.add(
        call.path("session_id"),
        [
            NewMemory(
                role=message.role,
                content=message.content,
                role_type=role_type_of(message.role),
                metadata=message.metadata,
            )
            for message in body.messages
        ],
    )
    return PlainTextResponse(OK)


async def delete_memory(call: ZepCall) -> Response:
    """Zep deletes the session itself (soft), and its messages with it."""
    await call.stores.sessions.delete(call.path("session_id"))
    return PlainTextResponse(OK)


async def search_memory(call: ZepCall) -> Response:
    """Zep's search of one session's messages, by memql's search: words, not vectors. Each
    result's `dist` is its score over the best one's (1.0 for the first)."""
    body = await call.body(SearchBody)
    if body.search_scope == "summary":
        raise Unsupported("summary search")
    if body.search_scope not in (None, "messages"):
        raise BadUserInput("search_scope must be one of 'messages' or 'summary'")
    if body.search_type == "mmr":
        raise Unsupported("MMR search (search_type mmr)")
    if body.search_type not in (None, "similarity"):
        raise BadUserInput("search_type must be one of 'similarity' or 'mmr'")
    if any(value for value in (body.metadata or {}).values()):
        raise Unsupported("metadata filters in memory search")
    page = await call.stores.memories.search(
        body.text or "", session_id=call.path("session_id"), limit=call.limit()
    )
    best = page.hits[0].score if page.hits else 1.0
    return JSONResponse([search_result_json(hit.memory, hit.score / best) for hit in page.hits])


# Messages


async def list_messages(call: ZepCall) -> Response:
    """A page of a session's messages, oldest first: Zep's `cursor` here is a page number."""
    session_id = call.path("session_id")
    limit = call.limit()
    page = query_int(call.request, "cursor") or 1
    if page < 1:
        raise BadUserInput("cursor must be at least 1: it numbers the pages from 1", field="cursor")
    if (page - 1) * limit > MAX_OFFSET:
        raise BadUserInput(
            f"cursor is too large: the page starts past item {MAX_OFFSET}", field="cursor"
        )
    found(await call.stores.sessions.get(session_id))
    memories = call.stores.memories.of_sessions()
    docs = await memories.offset_page(session_id, (page - 1) * limit, limit)
    total = (await memories.counts([session_id]))[session_id]
    return JSONResponse(
        {
            "messages": [message_json(doc) for doc in docs],
            "total_count": total,
            "row_count": len(docs),
        }
    )


async def get_message(call: ZepCall) -> Response:
    session_id = call.path("session_id")
    uuid = message_uuid(call.path("message_uuid"))
    found(await call.stores.sessions.get(session_id))
    docs = await call.stores.memories.get_many([uuid])
    doc = found(next((doc for doc in docs if doc.session_id == session_id), None))
    return JSONResponse(message_json(doc))


async def update_message(call: ZepCall) -> Response:
    uuid = message_uuid(call.path("message_uuid"))
    body = await call.body(MessageBody)
    doc = await call.stores.memories.update(uuid, body.metadata, session_id=call.path("session_id"))
    return JSONResponse(message_json(doc))


# Users


def user_fields(body: UserBody) -> UserFields:
    return UserFields(
        email=body.email,
        first_name=body.first_name,
        last_name=body.last_name,
        metadata=body.metadata,
    )


async def add_user(call: ZepCall) -> Response:
    body = await call.body(NewUserBody)
    doc = await call.stores.users.add(body.user_id, user_fields(body))
    return JSONResponse(user_json(doc), 201)


async def list_users(call: ZepCall) -> Response:
    docs = await offset_page(call.stores.users.list(), call.offset(), call.limit())
    return JSONResponse([user_json(doc) for doc in docs])


async def get_user(call: ZepCall) -> Response:
    doc = found(await call.stores.users.get(call.path("user_id")))
    return JSONResponse(user_json(doc))


async def update_user(call: ZepCall) -> Response:
    body = await call.body(UserBody)
    doc = await call.stores.users.update(call.path("user_id"), user_fields(body))
    return JSONResponse(user_json(doc))


async def delete_user(call: ZepCall) -> Response:
    """Soft-deletes the user, its sessions and their messages."""
    await call.stores.users.delete(call.path("user_id"))
    return PlainTextResponse(OK)


async def list_user_sessions(call: ZepCall) -> Response:
    """Zep listed every session of the user; memql pages them (`limit`, `cursor`) like the
    other lists."""
    query = call.stores.sessions.list(user_id=call.path("user_id"))
    docs = await offset_page(query, call.offset(), call.limit())
    return JSONResponse([session_json(doc) for doc in docs])


def unsupported(feature: str) -> Handler:
    async def refuse(call: ZepCall) -> Response:
        raise Unsupported(feature)

    return refuse


async def healthz(request: Request) -> Response:
    """What the SDK checks before anything else, without a token: 200 and `.`."""
    return PlainTextResponse(".")


class ZepAPI:
    """The routes under /zep; each authenticates its caller as GraphQL does, and answers a
    failure in Zep's plain text (app.web.zep.errors)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def endpoint(self, handle: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            store: Store = request.app.state.store
            try:
                viewer = await caller(request.headers.get("authorization"), self.settings, store)
                return await handle(ZepCall(request, store.for_viewer(viewer), self.settings))
            except MemqlError as error:
                return zep_error(error)
            except Unsupported as unsupported:
                return unsupported.response()
            except Exception as error:
                if (outage := database_outage(error)) is None:
                    raise
                logger.warning("%s %s: %s", request.method, request.url.path, first_line(error))
                return zep_error(outage)

        return answer

    def route(self, path: str, handle: Handler, *methods: str) -> Route:
        return Route(path, self.endpoint(handle), methods=list(methods or EVERY_METHOD))

    def mounts(self) -> list[Mount]:
        """The API at /zep (zep-python: base URL .../zep) and at /api/v1 (zep-js: base URL the
        origin): one route table, mounted twice."""
        route = self.route
        session = "/sessions/{session_id}"
        message = session + "/messages/{message_uuid}"
        user = "/user/{user_id}"
        api: list[BaseRoute] = [
            route("/sessions", list_sessions, "GET"),
            route("/sessions", add_session, "POST"),
            route(session, get_session, "GET"),
            route(session, update_session, "PATCH"),
            route(session + "/memory", get_memory, "GET"),
            route(session + "/memory", add_memory, "POST"),
            route(session + "/memory", delete_memory, "DELETE"),
            route(session + "/messages", list_messages, "GET"),
            route(message, get_message, "GET"),
            route(message, update_message, "PATCH"),
            route(session + "/search", search_memory, "POST"),
            route("/user", add_user, "POST"),
            route("/user", list_users, "GET"),
            route(user, get_user, "GET"),
            route(user, update_user, "PATCH"),
            route(user, delete_user, "DELETE"),
            route(user + "/sessions", list_user_sessions, "GET"),
            route("/collection", unsupported("document collections")),
            route("/collection/{rest:path}", unsupported("document collections")),
        ]
        health = Route("/healthz", healthz, methods=["GET"])
        return [Mount(MOUNT, routes=[health, Mount(API, routes=api)]), Mount(API, routes=api)]
