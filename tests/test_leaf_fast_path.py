"""The leaf fast path (schema.execution) changes nothing: generated documents over the same data
answer byte for byte the same with it on and off, errors, null propagation, @skip/@include,
aliases, fragments and custom scalars included."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from bson import ObjectId
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app.clock import utc_now
from schema.execution import MemqlExecutor
from tests.support.client import GraphQLClient, running_app
from tests.support.data import add_memories, add_session, add_user

# A few thousand documents under CI; a quick sample in a local run.
DOCUMENTS = 2000 if os.environ.get("CI") == "true" else 150

USER_LEAVES = [
    "id",
    "userId",
    "email",
    "firstName",
    "lastName",
    "metadata",
    "createdAt",
    "__typename",
]
SESSION_LEAVES = ["id", "sessionId", "userId", "metadata", "createdAt", "updatedAt"]
MEMORY_LEAVES = [
    "id",
    "uuid",
    "sessionId",
    "role",
    "roleType",
    "content",
    "metadata",
    "createdAt",
    "updatedAt",
]
DIRECTIVES = ["", "", "", " @include(if: $yes)", " @include(if: $no)", " @skip(if: $yes)"]


@st.composite
def leaves(draw: st.DrawFn, names: list[str]) -> str:
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=5))
    fields = []
    for index, name in enumerate(chosen):
        alias = draw(st.sampled_from(["", "", f"a{index}: "]))
        fields.append(f"{alias}{name}{draw(st.sampled_from(DIRECTIVES))}")
    return " ".join(fields)


@st.composite
def memory_selection(draw: st.DrawFn) -> str:
    selection = draw(leaves(MEMORY_LEAVES))
    if draw(st.booleans()):
        selection += f" session {{ {draw(leaves(SESSION_LEAVES))} }}"
    return selection


@st.composite
def session_selection(draw: st.DrawFn, depth: int) -> str:
    selection = draw(leaves(SESSION_LEAVES))
    if draw(st.booleans()):
        selection += f" user {{ {draw(leaves(USER_LEAVES))} }}"
    if depth > 0 and draw(st.booleans()):
        page = draw(st.sampled_from(["last: 3", "first: 2", "", "first: 5"]))
        memories = draw(memory_selection())
        selection += (
            f" memories{f'({page})' if page else ''} {{ totalCount edges {{ cursor node "
            f"{{ {memories} }} }} pageInfo {{ hasNextPage hasPreviousPage startCursor }} }}"
        )
    if draw(st.booleans()):
        selection = f"... on Session {{ {selection} }}"
    return selection


@st.composite
def documents(draw: st.DrawFn) -> str:
    root = draw(st.sampled_from(["users", "sessions", "session", "node", "user"]))
    if root == "users":
        sessions = draw(session_selection(depth=1))
        body = (
            f"users(first: 4) {{ edges {{ node {{ {draw(leaves(USER_LEAVES))} "
            f"sessions(first: 3) {{ edges {{ node {{ {sessions} }} }} }} }} }} }}"
        )
    elif root == "sessions":
        body = f"sessions(first: 5) {{ edges {{ node {{ {draw(session_selection(depth=1))} }} }} }}"
    elif root == "session":
        session_id = draw(st.sampled_from(["s0", "s1", "free", "missing"]))
        body = f'session(sessionId: "{session_id}") {{ {draw(session_selection(depth=1))} }}'
    elif root == "user":
        user_id = draw(st.sampled_from(["u0", "u1", "missing"]))
        body = f'user(userId: "{user_id}") {{ {draw(leaves(USER_LEAVES))} }}'
    else:
        body = f"node(id: $node) {{ id ... on Memory {{ {draw(memory_selection())} }} }}"
    declared = [
        declaration
        for name, declaration in (
            ("$yes", "$yes: Boolean = true"),
            ("$no", "$no: Boolean = false"),
            ("$node", "$node: ID!"),
        )
        if re.search(rf"\{name}\b", body)
    ]
    variables = f"({', '.join(declared)})" if declared else ""
    return f"query{variables} {{ {body} }}"


async def seed(api: GraphQLClient) -> list[str]:
    """Users with and without profile fields, sessions of a user and of none, memories with and
    without roleType and metadata; and a stored user whose userId is null, which makes a
    non-null leaf field fail (and its null propagate) wherever it is listed."""
    await add_user(
        api, "u0", email="a@example.com", firstName="Ada", metadata={"k": [1, {"x": None}]}
    )
    await add_user(api, "u1")
    await add_session(api, "s0", userId="u0", metadata={"topic": "tea"})
    await add_session(api, "s1", userId="u1")
    await add_session(api, "free")
    memories: list[str] = []
    for session_id in ("s0", "s1", "free"):
        added = await add_memories(api, session_id, ["héllo", "🙂", ""], role="ai")
        memories.extend(memory["id"] for memory in added)
    await api.data(
        'mutation { addMemory(input: {sessionId: "s0", memories: [{role: "h", roleType: USER,'
        ' content: "x", metadata: {n: 1.5, b: true}}]}) { memories { id } } }'
    )
    now = utc_now()
    await api.store.db.users.insert_many(
        [
            {
                "_id": ObjectId(),
                "userId": None,
                "metadata": {},
                "createdAt": now + timedelta(1),
                "updatedAt": now,
            }
        ]
    )
    return memories


@pytest.fixture
async def world() -> AsyncIterator[tuple[GraphQLClient, list[str]]]:
    async with running_app() as api:
        yield api, await seed(api)


async def answer(api: GraphQLClient, document: str, node: str, fast: bool) -> bytes:
    MemqlExecutor.leaf_fast_path = fast
    try:
        response = await api.http.post(
            "/graphql",
            content=json.dumps({"query": document, "variables": {"node": node}}),
            # The same request id both times: an error's answer carries it.
            headers={"content-type": "application/json", "x-request-id": "differential"},
        )
    finally:
        MemqlExecutor.leaf_fast_path = True
    return response.content


@settings(
    max_examples=DOCUMENTS,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
@given(data=st.data())
async def test_documents_answer_the_same_with_and_without_the_leaf_fast_path(
    world: tuple[GraphQLClient, list[str]], data: st.DataObject
) -> None:
    api, memories = world
    document = data.draw(documents(), label="document")
    node = data.draw(st.sampled_from(memories), label="node")
    fast = await answer(api, document, node, fast=True)
    slow = await answer(api, document, node, fast=False)
    assert fast == slow, document
    assert b'"data":' in fast, (document, fast)  # a document that ran, not a refused one


async def test_a_null_in_a_non_null_leaf_is_reported_the_same_way(
    world: tuple[GraphQLClient, list[str]],
) -> None:
    api, _ = world
    document = "{ users(first: 10) { edges { node { userId } } } }"
    fast = json.loads(await answer(api, document, "", fast=True))
    assert fast == json.loads(await answer(api, document, "", fast=False))
    [error] = fast["errors"]
    assert error["path"] == ["users", "edges", 2, "node", "userId"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
