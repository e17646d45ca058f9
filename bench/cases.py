"""The benchmark's cases: each a GraphQL request and the REST floor's request for the same data."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from bench.client import Call
from bench.seed import HOT_SESSION, Sizes, session_id, user_id

SESSIONS = """
{ sessions(first: 50) {
    edges { cursor node { id sessionId userId metadata createdAt updatedAt } }
    pageInfo { hasNextPage endCursor } } }
"""

SESSION_MEMORIES = """
query LatestMemories($sessionId: String!) {
  session(sessionId: $sessionId) {
    id sessionId
    memories(last: 50) {
      edges { cursor node { id uuid role roleType content metadata createdAt } }
      pageInfo { hasPreviousPage startCursor }
    }
  }
}
"""

NESTED = """
{ users(first: 10) { edges { node {
    userId
    sessions(first: 10) { edges { node {
      sessionId
      user { userId }
      memories(last: 10) { edges { node { uuid role content createdAt session { sessionId } } } }
    } } }
} } } }
"""

SEARCH = """
query Search($text: String!, $sessionId: String, $userId: String) {
  searchMemories(text: $text, sessionId: $sessionId, userId: $userId, first: 10) {
    edges { score cursor node { id uuid role content createdAt } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}
"""

SEARCH_TEXT = "message 7 lorem"
"""Every seeded memory holds "message" and "lorem" (bench.seed.content), so a search ranks every
memory of its scope; "7" is rarer and decides the best."""

SEARCHED_USER = user_id(1)
"""A user without the hot session: its sessions hold the row's usual share of memories."""

ADD_MEMORY = """
mutation AddMemory($input: AddMemoryInput!) {
  addMemory(input: $input) {
    session { sessionId }
    memories { id uuid role roleType content metadata createdAt }
  }
}
"""


def graphql(query: str, **variables: Any) -> Call:
    body = json.dumps({"query": query, "variables": variables}).encode()
    return Call("POST", "/graphql", body)


def five_memories(turn: int) -> list[dict[str, Any]]:
    return [
        {
            "role": "human" if index % 2 == 0 else "ai",
            "roleType": "USER" if index % 2 == 0 else "ASSISTANT",
            "content": f"Benchmark turn {turn}, message {index}: " + "lorem ipsum " * 8,
            "metadata": {"turn": turn},
        }
        for index in range(5)
    ]


@dataclass(frozen=True)
class Case:
    name: str
    graphql: list[Call]
    floor: list[Call]
    same_data: Callable[[Any, Any], bool]
    """Whether a GraphQL answer and the floor's (for the first call of each) hold the same."""


def equal(graphql_answer: Any, floor_answer: Any) -> bool:
    return bool(graphql_answer == floor_answer)


def same_shape(graphql_answer: Any, floor_answer: Any) -> bool:
    """Writes make new ids and timestamps: compare what is not new."""

    def strip(answer: Any) -> Any:
        payload = answer["data"]["addMemory"]
        return [
            {key: value for key, value in memory.items() if key not in ("id", "uuid", "createdAt")}
            for memory in payload["memories"]
        ], sorted(payload["memories"][0])

    return bool(strip(graphql_answer) == strip(floor_answer))


def cases(sizes: Sizes) -> list[Case]:
    """Reads first: the writes of `addMemory` grow the data the reads scan."""
    targets = [session_id(index) for index in range(min(sizes.sessions, 200))]
    additions = [(target, five_memories(turn)) for turn, target in enumerate(targets * 5)]
    return [
        Case("sessions(first: 50)", [graphql(SESSIONS)], [Call("GET", "/floor/sessions")], equal),
        Case(
            "session { memories(last: 50) }",
            [graphql(SESSION_MEMORIES, sessionId=HOT_SESSION)],
            [Call("GET", "/floor/session-memories?" + urlencode({"sessionId": HOT_SESSION}))],
            equal,
        ),
        Case(
            "users { sessions { user memories { session } } }",
            [graphql(NESTED)],
            [Call("GET", "/floor/nested")],
            equal,
        ),
        Case(
            "searchMemories(userId)",
            [graphql(SEARCH, text=SEARCH_TEXT, userId=SEARCHED_USER)],
            [
                Call(
                    "GET",
                    "/floor/search?" + urlencode({"text": SEARCH_TEXT, "userId": SEARCHED_USER}),
                )
            ],
            equal,
        ),
        Case(
            "searchMemories(sessionId)",
            [graphql(SEARCH, text=SEARCH_TEXT, sessionId=HOT_SESSION)],
            [
                Call(
                    "GET",
                    "/floor/search?" + urlencode({"text": SEARCH_TEXT, "sessionId": HOT_SESSION}),
                )
            ],
            equal,
        ),
        Case(
            "addMemory (5 memories)",
            [
                graphql(ADD_MEMORY, input={"sessionId": target, "memories": memories})
                for target, memories in additions
            ],
            [
                Call(
                    "POST",
                    "/floor/add-memory",
                    json.dumps({"sessionId": target, "memories": memories}).encode(),
                )
                for target, memories in additions
            ],
            same_shape,
        ),
    ]
