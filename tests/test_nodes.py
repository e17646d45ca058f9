"""Relay global IDs: `node` and `nodes` for users, sessions and memories; deleted ones hidden."""

from __future__ import annotations

import base64

from tests.support.client import GraphQLClient
from tests.support.data import add_memories, add_session, add_user

NODE = """
query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on User { userId }
    ... on Session { sessionId }
    ... on Memory { content }
  }
}
"""
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"


async def test_node_finds_each_type_by_its_global_id(api: GraphQLClient) -> None:
    user = await add_user(api, "alice")
    session = await add_session(api, "s1", userId="alice")
    memory = (await add_memories(api, "s1", ["hello"]))[0]
    expected = {
        user["id"]: ("User", "userId", "alice"),
        session["id"]: ("Session", "sessionId", "s1"),
        memory["id"]: ("Memory", "content", "hello"),
    }
    for global_id, (typename, field, value) in expected.items():
        node = (await api.data(NODE, {"id": global_id}))["node"]
        assert node["__typename"] == typename
        assert node["id"] == global_id
        assert node[field] == value
    assert len(set(expected)) == 3


async def test_global_ids_are_stable_and_url_safe(api: GraphQLClient) -> None:
    session = await add_session(api, "s1")
    again = await api.data('{ session(sessionId: "s1") { id } sessions { edges { node { id } } } }')
    assert again["session"]["id"] == session["id"]
    assert again["sessions"]["edges"][0]["node"]["id"] == session["id"]
    assert set(session["id"]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )


async def test_deleted_objects_are_null_through_node_and_nodes(api: GraphQLClient) -> None:
    user = await add_user(api, "alice")
    session = await add_session(api, "s1", userId="alice")
    memory = (await add_memories(api, "s1", ["hello"]))[0]
    live = await add_session(api, "s2")
    await api.data('mutation { deleteUser(userId: "alice") { deletedId } }')
    for global_id in (user["id"], session["id"], memory["id"]):
        assert (await api.data(NODE, {"id": global_id}))["node"] is None
    ids = [user["id"], live["id"], memory["id"]]
    nodes = (await api.data(NODES, {"ids": ids}))["nodes"]
    assert nodes == [None, {"__typename": "Session", "id": live["id"]}, None]


async def test_unknown_well_formed_ids_are_null(api: GraphQLClient) -> None:
    unknown = [
        base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
        for text in (
            "User:0123456789abcdef01234567",
            "Session:zzz",
            "Memory:6f1c1f5e-3c55-4c55-8f0e-0a0e3f1c9d11",
            "Thing:1",
        )
    ]
    nodes = (await api.data(NODES, {"ids": unknown}))["nodes"]
    assert nodes == [None, None, None, None]


async def test_malformed_ids_are_bad_user_input(api: GraphQLClient) -> None:
    for bad in ["", "!!!", "bm9jb2xvbg", "é"]:
        error = await api.error(NODE, {"id": bad})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}, bad
    error = await api.error(NODES, {"ids": ["bm9jb2xvbg"]})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "ids[0]"}


async def test_nodes_refuses_more_ids_than_a_page(api: GraphQLClient) -> None:
    error = await api.error(NODES, {"ids": ["x"] * 101})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "ids"}
