"""The REST floor: Starlette JSON routes returning exactly the `data` of the benchmark's GraphQL
queries through the same store calls; mounted only by the benchmark's server, never by memql."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.auth import OPEN
from app.documents import MemoryDoc, SessionDoc, UserDoc
from app.roles import RoleType
from app.store import Store, ViewerStore
from app.store.keyset import PageRequest, SortKey
from app.store.memories import NewMemory
from schema.global_ids import to_global_id
from schema.pagination import MEMORIES, SESSIONS, Paging
from schema.scalars import serialize_datetime
from schema.search import SEARCH

Json = dict[str, Any]


def store_of(request: Request) -> ViewerStore:
    store: Store = request.app.state.store
    return store.for_viewer(OPEN)


def edge(paging: Paging, key: SortKey, node: Json) -> Json:
    return {"cursor": paging.cursor(key), "node": node}


def session_json(doc: SessionDoc) -> Json:
    return {
        "id": to_global_id("Session", str(doc.id)),
        "sessionId": doc.session_id,
        "userId": doc.user_id,
        "metadata": doc.metadata,
        "createdAt": serialize_datetime(doc.created_at),
        "updatedAt": serialize_datetime(doc.updated_at),
    }


def memory_json(doc: MemoryDoc) -> Json:
    return {
        "id": to_global_id("Memory", doc.uuid),
        "uuid": doc.uuid,
        "role": doc.role,
        "roleType": doc.role_type.name if doc.role_type else None,
        "content": doc.content,
        "metadata": doc.metadata,
        "createdAt": serialize_datetime(doc.created_at),
    }


async def sessions(request: Request) -> JSONResponse:
    """`sessions(first: 50)`."""
    page = await store_of(request).sessions.list().page(PageRequest(limit=50))
    keys = page.keys
    return JSONResponse(
        {
            "data": {
                "sessions": {
                    "edges": [
                        edge(SESSIONS, key, session_json(doc))
                        for key, doc in zip(keys, page.items, strict=True)
                    ],
                    "pageInfo": {
                        "hasNextPage": page.has_more,
                        "endCursor": SESSIONS.cursor(keys[-1]) if keys else None,
                    },
                }
            }
        }
    )


async def session_memories(request: Request) -> JSONResponse:
    """`session(sessionId) { memories(last: 50) }`."""
    store = store_of(request)
    session_id = request.query_params["sessionId"]
    found = await store.sessions.get_many([session_id])
    if not found:
        return JSONResponse({"data": {"session": None}})
    session = found[0]
    pages = await store.memories.of_sessions().pages(
        [session_id], PageRequest(limit=50, backward=True)
    )
    page = pages[session_id]
    return JSONResponse(
        {
            "data": {
                "session": {
                    "id": to_global_id("Session", str(session.id)),
                    "sessionId": session.session_id,
                    "memories": {
                        "edges": [
                            edge(MEMORIES, key, memory_json(doc))
                            for key, doc in zip(page.keys, page.items, strict=True)
                        ],
                        "pageInfo": {
                            "hasPreviousPage": page.has_more,
                            "startCursor": (MEMORIES.cursor(page.keys[0]) if page.keys else None),
                        },
                    },
                }
            }
        }
    )


async def search(request: Request) -> JSONResponse:
    """`searchMemories(text, sessionId | userId, first: 10)`."""
    params = request.query_params
    found = await store_of(request).memories.search(
        params["text"],
        session_id=params.get("sessionId"),
        user_id=params.get("userId"),
        limit=10,
    )
    edges = [
        {
            "score": hit.score,
            "cursor": SEARCH.cursor(hit.key),
            "node": {
                key: value
                for key, value in memory_json(hit.memory).items()
                if key in ("id", "uuid", "role", "content", "createdAt")
            },
        }
        for hit in found.hits
    ]
    return JSONResponse(
        {
            "data": {
                "searchMemories": {
                    "edges": edges,
                    "pageInfo": {
                        "hasNextPage": found.has_more,
                        "endCursor": edges[-1]["cursor"] if edges else None,
                    },
                    "totalCount": found.total,
                }
            }
        }
    )


async def nested(request: Request) -> JSONResponse:
    """`users(first: 10) { sessions(first: 10) { user memories(last: 10) { session } } }`: one
    query per level, as the DataLoaders make them; a session's user and a memory's session are
    the parents already at hand."""
    store = store_of(request)
    users = await store.users.list().page(PageRequest(limit=10))
    user_ids = [user.user_id for user in users.items]
    session_pages = await store.sessions.of_users().pages(user_ids, PageRequest(limit=10))
    session_ids = [doc.session_id for page in session_pages.values() for doc in page.items]
    memory_pages = await store.memories.of_sessions().pages(
        session_ids, PageRequest(limit=10, backward=True)
    )

    def memory_node(doc: MemoryDoc, session: SessionDoc) -> Json:
        return {
            "uuid": doc.uuid,
            "role": doc.role,
            "content": doc.content,
            "createdAt": serialize_datetime(doc.created_at),
            "session": {"sessionId": session.session_id},
        }

    def session_node(doc: SessionDoc, user: UserDoc) -> Json:
        return {
            "sessionId": doc.session_id,
            "user": {"userId": user.user_id},
            "memories": {
                "edges": [
                    {"node": memory_node(memory, doc)}
                    for memory in memory_pages[doc.session_id].items
                ]
            },
        }

    return JSONResponse(
        {
            "data": {
                "users": {
                    "edges": [
                        {
                            "node": {
                                "userId": user.user_id,
                                "sessions": {
                                    "edges": [
                                        {"node": session_node(session, user)}
                                        for session in session_pages[user.user_id].items
                                    ]
                                },
                            }
                        }
                        for user in users.items
                    ]
                }
            }
        }
    )


async def add_memory(request: Request) -> JSONResponse:
    """`addMemory(input: {sessionId, memories})`."""
    body = await request.json()
    memories = [
        NewMemory(
            role=item["role"],
            content=item["content"],
            role_type=RoleType[item["roleType"]] if item.get("roleType") else None,
            metadata=item.get("metadata"),
        )
        for item in body["memories"]
    ]
    session, added = await store_of(request).memories.add(body["sessionId"], memories)
    return JSONResponse(
        {
            "data": {
                "addMemory": {
                    "session": {"sessionId": session.session_id},
                    "memories": [memory_json(doc) for doc in added],
                }
            }
        }
    )


def floor_routes() -> list[Route]:
    return [
        Route("/floor/sessions", sessions),
        Route("/floor/session-memories", session_memories),
        Route("/floor/nested", nested),
        Route("/floor/search", search),
        Route("/floor/add-memory", add_memory, methods=["POST"]),
    ]
