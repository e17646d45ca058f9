"""Users: Zep's create, get, update, delete — through the GraphQL API."""

from __future__ import annotations

from tests.support.client import GraphQLClient
from tests.support.data import (
    ADD_USER,
    add_memories,
    add_session,
    add_user,
    memory_contents,
    raw_documents,
)

GET_USER = """
query($userId: String!) {
  user(userId: $userId) { id userId email firstName lastName metadata createdAt updatedAt }
}
"""
UPDATE_USER = """
mutation($input: UpdateUserInput!) {
  updateUser(input: $input) { user { userId email firstName lastName metadata updatedAt } }
}
"""
DELETE_USER = "mutation($userId: String!) { deleteUser(userId: $userId) { deletedId } }"


async def test_add_user_stores_every_field(api: GraphQLClient) -> None:
    await add_user(
        api,
        "alice",
        email="a@example.com",
        firstName="Alice",
        lastName="Liddell",
        metadata={"plan": "pro"},
    )
    user = (await api.data(GET_USER, {"userId": "alice"}))["user"]
    assert user["userId"] == "alice"
    assert (user["email"], user["firstName"], user["lastName"]) == (
        "a@example.com",
        "Alice",
        "Liddell",
    )
    assert user["metadata"] == {"plan": "pro"}
    assert user["createdAt"].endswith("Z")
    assert len(user["createdAt"]) == 24
    assert user["createdAt"] == user["updatedAt"]


async def test_adding_an_existing_user_is_already_exists(api: GraphQLClient) -> None:
    await add_user(api, "alice", metadata={"v": 1})
    error = await api.error(ADD_USER, {"input": {"userId": "alice", "metadata": {"v": 2}}})
    assert error["extensions"] == {"code": "ALREADY_EXISTS", "field": "input.userId"}
    user = (await api.data(GET_USER, {"userId": "alice"}))["user"]
    assert user["metadata"] == {"v": 1}


async def test_unknown_user_is_null(api: GraphQLClient) -> None:
    assert (await api.data(GET_USER, {"userId": "nobody"}))["user"] is None


async def test_update_user_changes_given_fields_and_merges_metadata(api: GraphQLClient) -> None:
    await add_user(
        api,
        "alice",
        email="old@example.com",
        firstName="Alice",
        metadata={"a": 1, "nested": {"x": 1}},
    )
    data = await api.data(
        UPDATE_USER,
        {
            "input": {
                "userId": "alice",
                "email": "new@example.com",
                "metadata": {"nested": {"y": 2}, "b": True},
            }
        },
    )
    user = data["updateUser"]["user"]
    assert user["email"] == "new@example.com"
    assert user["firstName"] == "Alice"
    assert user["metadata"] == {"a": 1, "nested": {"x": 1, "y": 2}, "b": True}


async def test_update_of_unknown_user_is_not_found(api: GraphQLClient) -> None:
    error = await api.error(UPDATE_USER, {"input": {"userId": "ghost", "email": "g@x"}})
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["extensions"]["field"] == "input.userId"
    assert await raw_documents(api, "users") == []


async def test_delete_user_hides_the_user_its_sessions_and_their_memories(
    api: GraphQLClient,
) -> None:
    user = await add_user(api, "alice")
    await add_session(api, "s1", userId="alice")
    await add_session(api, "s2", userId="alice")
    await add_session(api, "other")
    await add_memories(api, "s1", ["one", "two"])
    await add_memories(api, "other", ["kept"])

    deleted = await api.data(DELETE_USER, {"userId": "alice"})
    assert deleted["deleteUser"]["deletedId"] == user["id"]

    assert (await api.data(GET_USER, {"userId": "alice"}))["user"] is None
    data = await api.data(
        """{ s1: session(sessionId: "s1") { id } s2: session(sessionId: "s2") { id }
             sessions { totalCount edges { node { sessionId } } }
             users { totalCount } }"""
    )
    assert data["s1"] is None
    assert data["s2"] is None
    assert [e["node"]["sessionId"] for e in data["sessions"]["edges"]] == ["other"]
    assert data["sessions"]["totalCount"] == 1
    assert data["users"]["totalCount"] == 0
    assert await memory_contents(api, "other") == ["kept"]
    stored = await raw_documents(api, "memories", sessionId="s1")
    assert len(stored) == 2
    assert all(doc.get("deletedAt") for doc in stored)


async def test_deleting_an_unknown_user_is_not_found(api: GraphQLClient) -> None:
    assert await api.code(DELETE_USER, {"userId": "ghost"}) == "NOT_FOUND"


async def test_deleted_user_cannot_be_updated(api: GraphQLClient) -> None:
    await add_user(api, "alice")
    await api.data(DELETE_USER, {"userId": "alice"})
    assert await api.code(UPDATE_USER, {"input": {"userId": "alice", "email": "x"}}) == "NOT_FOUND"


async def test_adding_a_deleted_user_again_makes_a_live_user_without_old_sessions(
    api: GraphQLClient,
) -> None:
    await add_user(api, "alice", metadata={"old": True}, email="old@x")
    await add_session(api, "s1", userId="alice")
    await api.data(DELETE_USER, {"userId": "alice"})

    again = await add_user(api, "alice", metadata={"new": True})
    assert again["metadata"] == {"new": True}
    data = await api.data('{ user(userId: "alice") { email sessions { totalCount } } }')
    assert data["user"] == {"email": None, "sessions": {"totalCount": 0}}


async def test_user_lists_its_own_live_sessions_oldest_first(api: GraphQLClient) -> None:
    await add_user(api, "alice")
    await add_user(api, "bob")
    for name in ("a1", "a2", "a3"):
        await add_session(api, name, userId="alice")
    await add_session(api, "b1", userId="bob")
    await api.data('mutation { deleteSession(sessionId: "a2") { deletedId } }')
    data = await api.data(
        '{ user(userId: "alice") { sessions { totalCount edges { node { sessionId } } } } }'
    )
    sessions = data["user"]["sessions"]
    assert [e["node"]["sessionId"] for e in sessions["edges"]] == ["a1", "a3"]
    assert sessions["totalCount"] == 2


async def test_users_are_listed_oldest_first(api: GraphQLClient) -> None:
    for name in ("c", "a", "b"):
        await add_user(api, name)
    data = await api.data("{ users { edges { node { userId } } } }")
    assert [e["node"]["userId"] for e in data["users"]["edges"]] == ["c", "a", "b"]


async def test_bad_user_ids_are_rejected_and_nothing_is_stored(api: GraphQLClient) -> None:
    for bad in ["", "x" * 257, "tab\there", "nul\x00", "bell\x07"]:
        error = await api.error(ADD_USER, {"input": {"userId": bad}})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.userId"}, bad
    assert (await api.code(GET_USER, {"userId": ""})) == "BAD_USER_INPUT"
    assert await raw_documents(api, "users") == []


async def test_user_ids_of_256_unicode_characters_are_fine(api: GraphQLClient) -> None:
    user_id = "ü" * 255 + "🙂"
    await add_user(api, user_id)
    assert (await api.data(GET_USER, {"userId": user_id}))["user"]["userId"] == user_id


async def test_overlong_profile_fields_are_rejected(api: GraphQLClient) -> None:
    error = await api.error(ADD_USER, {"input": {"userId": "a", "email": "e" * 321}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.email"}
    assert await raw_documents(api, "users") == []
