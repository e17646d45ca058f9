"""A store's worth of data written through GraphQL — users, sessions, memories, metadata merges,
each kind of deletion — and the queries that read all of it back, with cursors and global IDs
taken along the way: what a restart, or an export and import, must give back exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

ADD_USER = "mutation($input: AddUserInput!) { addUser(input: $input) { user { id } } }"
UPDATE_USER = "mutation($input: UpdateUserInput!) { updateUser(input: $input) { user { id } } }"
ADD_SESSION = "mutation($input: AddSessionInput!) { addSession(input: $input) { session { id } } }"
ADD_MEMORY = """
mutation($input: AddMemoryInput!) { addMemory(input: $input) { memories { id uuid } } }
"""
UPDATE_MEMORY = """
mutation($input: UpdateMemoryInput!) { updateMemory(input: $input) { memory { id } } }
"""
DELETE_USER = "mutation($id: String!) { deleteUser(userId: $id) { deletedId } }"
DELETE_SESSION = "mutation($id: String!) { deleteSession(sessionId: $id) { deletedId } }"
DELETE_MEMORIES = "mutation($id: String!) { deleteMemories(sessionId: $id) { deletedCount } }"

SEARCHED = "One TWO wiped unicode nobody's gone bob"
"""Words of live memories, of deleted ones, and an accent-free spelling of a stored word."""
MEMORY_FIELDS = "id uuid sessionId role roleType content metadata createdAt updatedAt"
EVERYTHING = f"""
query {{
  users(first: 20) {{
    totalCount
    pageInfo {{ hasNextPage endCursor }}
    edges {{
      cursor
      node {{
        id userId email firstName lastName metadata createdAt updatedAt
        sessions(first: 20) {{ totalCount edges {{ cursor node {{ id sessionId }} }} }}
      }}
    }}
  }}
  sessions(first: 20) {{
    totalCount
    edges {{
      cursor
      node {{
        id sessionId userId metadata createdAt updatedAt
        user {{ id userId }}
        memories(first: 50) {{
          totalCount
          pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
          edges {{ cursor node {{ {MEMORY_FIELDS} }} }}
        }}
      }}
    }}
  }}
  gone: session(sessionId: "gone") {{ id }}
  bob: user(userId: "bob") {{ id }}
  found: searchMemories(text: "{SEARCHED}", first: 3) {{
    totalCount
    pageInfo {{ hasNextPage endCursor }}
    edges {{ score cursor node {{ uuid content }} }}
  }}
}}
"""
TAKEN_BEFORE = f"""
query($cursor: String!, $sessionCursor: String!, $ids: [ID!]!, $searchCursor: String!) {{
  session(sessionId: "a1") {{
    memories(first: 2, after: $cursor) {{ edges {{ cursor node {{ {MEMORY_FIELDS} }} }} }}
    before: memories(last: 5, before: $cursor) {{ edges {{ node {{ content }} }} }}
  }}
  sessions(first: 2, after: $sessionCursor) {{ edges {{ node {{ sessionId }} }} }}
  nodes(ids: $ids) {{
    id
    ... on User {{ userId metadata }}
    ... on Session {{ sessionId }}
    ... on Memory {{ content metadata }}
  }}
  searchMemories(text: "{SEARCHED}", first: 10, after: $searchCursor) {{
    edges {{ score node {{ content }} }}
  }}
}}
"""


class GraphQL(Protocol):
    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a request that must succeed."""
        ...


class HttpGraphQL:
    """GraphQL over real HTTP, to a server in another process."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}
        )
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


@dataclass
class Taken:
    """What a client held before the restart: a memory cursor, a session cursor, global IDs."""

    cursor: str
    session_cursor: str
    ids: list[str]
    search_cursor: str

    def variables(self) -> dict[str, Any]:
        return {
            "cursor": self.cursor,
            "sessionCursor": self.session_cursor,
            "ids": self.ids,
            "searchCursor": self.search_cursor,
        }


async def add_memories(api: GraphQL, session_id: str, *contents: str) -> list[dict[str, Any]]:
    memories = [
        {"role": "human" if n % 2 else "ai", "content": content, "metadata": {"n": n}}
        for n, content in enumerate(contents)
    ]
    data = await api.data(ADD_MEMORY, {"input": {"sessionId": session_id, "memories": memories}})
    added: list[dict[str, Any]] = data["addMemory"]["memories"]
    return added


async def write_everything(api: GraphQL) -> Taken:
    """Users, sessions and memories, live and deleted each way; returns what a client took."""
    alice = await api.data(
        ADD_USER,
        {
            "input": {
                "userId": "alice",
                "email": "alice@example.com",
                "firstName": "Alice",
                "metadata": {"plan": "pro", "prefs": {"tea": "rooibos", "sugar": 0}},
            }
        },
    )
    await api.data(
        UPDATE_USER, {"input": {"userId": "alice", "metadata": {"prefs": {"sugar": None}}}}
    )
    for user in ("bob", "carol"):
        await api.data(ADD_USER, {"input": {"userId": user, "lastName": user.title()}})
    a1 = await api.data(
        ADD_SESSION, {"input": {"sessionId": "a1", "userId": "alice", "metadata": {"t": 1}}}
    )
    await api.data(ADD_SESSION, {"input": {"sessionId": "a2", "userId": "alice"}})
    await api.data(ADD_SESSION, {"input": {"sessionId": "b1", "userId": "bob"}})
    first = await add_memories(api, "a1", "one", "two", "three")
    await add_memories(api, "a1", "four", "five")
    await api.data(
        UPDATE_MEMORY, {"input": {"id": first[1]["id"], "metadata": {"liked": True, "n": None}}}
    )
    await add_memories(api, "a2", "a2 one", "a2 two")
    await add_memories(api, "b1", "bob's")
    await add_memories(api, "free", "nobody's", "ünïcödé ✓")
    await add_memories(api, "gone", "soon gone")
    await add_memories(api, "wiped", "wiped one", "wiped two")
    await api.data(DELETE_USER, {"id": "bob"})
    await api.data(DELETE_SESSION, {"id": "gone"})
    await api.data(DELETE_MEMORIES, {"id": "wiped"})
    await add_memories(api, "wiped", "after the wipe")
    page = await api.data(
        '{ session(sessionId: "a1") { memories(first: 2) { pageInfo { endCursor } } } '
        "sessions(first: 2) { pageInfo { endCursor } } "
        f'searchMemories(text: "{SEARCHED}", first: 1) {{ pageInfo {{ endCursor }} }} }}'
    )
    return Taken(
        cursor=page["session"]["memories"]["pageInfo"]["endCursor"],
        session_cursor=page["sessions"]["pageInfo"]["endCursor"],
        ids=[
            alice["addUser"]["user"]["id"],
            a1["addSession"]["session"]["id"],
            first[1]["id"],
            first[2]["id"],
        ],
        search_cursor=page["searchMemories"]["pageInfo"]["endCursor"],
    )


async def read_everything(api: GraphQL, taken: Taken) -> dict[str, Any]:
    """Everything the API shows, and what the cursors and IDs taken before lead to."""
    return {
        "everything": await api.data(EVERYTHING),
        "taken": await api.data(TAKEN_BEFORE, taken.variables()),
    }


async def newest_memory(api: GraphQL, session_id: str) -> str:
    """The content of the session's last memory by seq."""
    data = await api.data(
        "query($s: String!) { session(sessionId: $s) { memories(last: 1) "
        "{ edges { node { content } } } } }",
        {"s": session_id},
    )
    content: str = data["session"]["memories"]["edges"][0]["node"]["content"]
    return content
