"""Small helpers for the data most tests need, and the two users' world of the access tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support.client import GraphQLClient

ADD_USER = """
mutation($input: AddUserInput!) { addUser(input: $input) { user { id userId metadata } } }
"""
ADD_SESSION = """
mutation($input: AddSessionInput!) {
  addSession(input: $input) { session { id sessionId userId metadata } }
}
"""
ADD_MEMORY = """
mutation($input: AddMemoryInput!) {
  addMemory(input: $input) {
    session { id sessionId }
    memories { id uuid role roleType content metadata }
  }
}
"""


async def add_user(api: GraphQLClient, user_id: str, **fields: Any) -> dict[str, Any]:
    data = await api.data(ADD_USER, {"input": {"userId": user_id, **fields}})
    user: dict[str, Any] = data["addUser"]["user"]
    return user


async def add_session(api: GraphQLClient, session_id: str, **fields: Any) -> dict[str, Any]:
    data = await api.data(ADD_SESSION, {"input": {"sessionId": session_id, **fields}})
    session: dict[str, Any] = data["addSession"]["session"]
    return session


async def add_memories(
    api: GraphQLClient, session_id: str, contents: list[str], role: str = "human"
) -> list[dict[str, Any]]:
    memories = [{"role": role, "content": content} for content in contents]
    data = await api.data(ADD_MEMORY, {"input": {"sessionId": session_id, "memories": memories}})
    added: list[dict[str, Any]] = data["addMemory"]["memories"]
    return added


async def memory_contents(api: GraphQLClient, session_id: str, **page: Any) -> list[str]:
    arguments = ", ".join(f"{name}: {value}" for name, value in page.items()) or "first: 100"
    data = await api.data(
        f'{{ session(sessionId: "{session_id}") {{ memories({arguments}) '
        "{ edges { node { content } } } } }"
    )
    return [edge["node"]["content"] for edge in data["session"]["memories"]["edges"]]


async def raw_documents(api: GraphQLClient, collection: str, **match: Any) -> list[dict[str, Any]]:
    """Documents as stored, read around the API to check what really is in the database."""
    cursor = api.store.db.collection(collection).find(match)
    documents: list[dict[str, Any]] = await cursor.to_list(None)
    return documents


@dataclass
class World:
    """Users alice and bob with two sessions each of their own (a1, a2; b1) and one of no user
    (free), each with a memory; clients for an admin and for each user's token."""

    admin: GraphQLClient
    alice: GraphQLClient
    bob: GraphQLClient
    ids: dict[str, str]


async def snapshot(api: GraphQLClient) -> dict[str, list[dict[str, Any]]]:
    return {name: await raw_documents(api, name) for name in ("users", "sessions", "memories")}
