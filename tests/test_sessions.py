"""Sessions: Zep's create, get, update (which undeletes), delete — through the GraphQL API."""

from __future__ import annotations

from tests.support.client import GraphQLClient
from tests.support.data import (
    ADD_SESSION,
    add_memories,
    add_session,
    add_user,
    memory_contents,
    raw_documents,
)

GET_SESSION = """
query($sessionId: String!) {
  session(sessionId: $sessionId) {
    id sessionId userId user { userId } metadata createdAt updatedAt
  }
}
"""
UPDATE_SESSION = """
mutation($input: UpdateSessionInput!) {
  updateSession(input: $input) { session { id sessionId userId metadata } }
}
"""
DELETE_SESSION = "mutation($id: String!) { deleteSession(sessionId: $id) { deletedId } }"


async def test_add_session_without_a_user(api: GraphQLClient) -> None:
    session = await add_session(api, "s1", metadata={"topic": "tea"})
    fetched = (await api.data(GET_SESSION, {"sessionId": "s1"}))["session"]
    assert fetched["id"] == session["id"]
    assert fetched["userId"] is None
    assert fetched["user"] is None
    assert fetched["metadata"] == {"topic": "tea"}


async def test_add_session_for_a_user_links_them(api: GraphQLClient) -> None:
    await add_user(api, "alice")
    await add_session(api, "s1", userId="alice")
    fetched = (await api.data(GET_SESSION, {"sessionId": "s1"}))["session"]
    assert fetched["user"] == {"userId": "alice"}


async def test_add_session_for_an_unknown_user_is_not_found(api: GraphQLClient) -> None:
    error = await api.error(ADD_SESSION, {"input": {"sessionId": "s1", "userId": "ghost"}})
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "input.userId"}
    assert await raw_documents(api, "sessions") == []


async def test_adding_an_existing_session_is_already_exists(api: GraphQLClient) -> None:
    await add_session(api, "s1", metadata={"v": 1})
    error = await api.error(ADD_SESSION, {"input": {"sessionId": "s1", "metadata": {"v": 2}}})
    assert error["extensions"] == {"code": "ALREADY_EXISTS", "field": "input.sessionId"}
    assert (await api.data(GET_SESSION, {"sessionId": "s1"}))["session"]["metadata"] == {"v": 1}


async def test_adding_a_deleted_session_brings_it_back_without_its_memories(
    api: GraphQLClient,
) -> None:
    first = await add_session(api, "s1", metadata={"old": 1})
    await add_memories(api, "s1", ["old memory"])
    await api.data(DELETE_SESSION, {"id": "s1"})

    again = await add_session(api, "s1", metadata={"new": 1})
    assert again["id"] == first["id"]
    assert again["metadata"] == {"new": 1}
    assert await memory_contents(api, "s1") == []
    await add_memories(api, "s1", ["new memory"])
    assert await memory_contents(api, "s1") == ["new memory"]


async def test_unknown_session_is_null(api: GraphQLClient) -> None:
    assert (await api.data(GET_SESSION, {"sessionId": "nope"}))["session"] is None


async def test_deleted_session_is_null_and_its_memories_are_hidden(api: GraphQLClient) -> None:
    session = await add_session(api, "s1")
    await add_memories(api, "s1", ["a", "b"])
    deleted = await api.data(DELETE_SESSION, {"id": "s1"})
    assert deleted["deleteSession"]["deletedId"] == session["id"]
    assert (await api.data(GET_SESSION, {"sessionId": "s1"}))["session"] is None
    data = await api.data("{ sessions { totalCount } }")
    assert data["sessions"]["totalCount"] == 0
    stored = await raw_documents(api, "memories", sessionId="s1")
    assert len(stored) == 2
    assert all(doc.get("deletedAt") for doc in stored)


async def test_deleting_an_unknown_or_deleted_session_is_not_found(api: GraphQLClient) -> None:
    assert await api.code(DELETE_SESSION, {"id": "nope"}) == "NOT_FOUND"
    await add_session(api, "s1")
    await api.data(DELETE_SESSION, {"id": "s1"})
    assert await api.code(DELETE_SESSION, {"id": "s1"}) == "NOT_FOUND"


async def test_update_session_merges_metadata(api: GraphQLClient) -> None:
    await add_session(api, "s1", metadata={"a": 1, "n": {"x": 1}})
    data = await api.data(
        UPDATE_SESSION, {"input": {"sessionId": "s1", "metadata": {"n": {"y": 2}, "b": [1, 2]}}}
    )
    assert data["updateSession"]["session"]["metadata"] == {
        "a": 1,
        "n": {"x": 1, "y": 2},
        "b": [1, 2],
    }


async def test_update_session_can_set_the_user(api: GraphQLClient) -> None:
    await add_user(api, "alice")
    await add_session(api, "s1")
    data = await api.data(UPDATE_SESSION, {"input": {"sessionId": "s1", "userId": "alice"}})
    assert data["updateSession"]["session"]["userId"] == "alice"
    user = await api.data('{ user(userId: "alice") { sessions { totalCount } } }')
    assert user["user"]["sessions"]["totalCount"] == 1


async def test_update_session_to_an_unknown_user_is_not_found(api: GraphQLClient) -> None:
    await add_session(api, "s1")
    error = await api.error(UPDATE_SESSION, {"input": {"sessionId": "s1", "userId": "ghost"}})
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "input.userId"}
    assert (await api.data(GET_SESSION, {"sessionId": "s1"}))["session"]["userId"] is None


async def test_update_of_unknown_session_is_not_found(api: GraphQLClient) -> None:
    error = await api.error(UPDATE_SESSION, {"input": {"sessionId": "nope", "metadata": {"a": 1}}})
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "input.sessionId"}
    assert await raw_documents(api, "sessions") == []


async def test_update_session_of_a_deleted_session_undeletes_it(api: GraphQLClient) -> None:
    await add_session(api, "s1", metadata={"a": 1})
    await add_memories(api, "s1", ["before delete"])
    await api.data(DELETE_SESSION, {"id": "s1"})

    data = await api.data(UPDATE_SESSION, {"input": {"sessionId": "s1", "metadata": {"b": 2}}})
    assert data["updateSession"]["session"]["metadata"] == {"a": 1, "b": 2}
    assert (await api.data(GET_SESSION, {"sessionId": "s1"}))["session"]["sessionId"] == "s1"
    assert await memory_contents(api, "s1") == []


async def test_sessions_filtered_by_user(api: GraphQLClient) -> None:
    await add_user(api, "alice")
    await add_user(api, "bob")
    await add_session(api, "a1", userId="alice")
    await add_session(api, "b1", userId="bob")
    await add_session(api, "a2", userId="alice")
    await add_session(api, "free")
    data = await api.data(
        """{ alice: sessions(userId: "alice") { totalCount edges { node { sessionId } } }
             all: sessions { totalCount edges { node { sessionId } } }
             ghost: sessions(userId: "ghost") { totalCount edges { node { sessionId } } } }"""
    )
    assert [e["node"]["sessionId"] for e in data["alice"]["edges"]] == ["a1", "a2"]
    assert data["alice"]["totalCount"] == 2
    assert [e["node"]["sessionId"] for e in data["all"]["edges"]] == ["a1", "b1", "a2", "free"]
    assert data["ghost"] == {"totalCount": 0, "edges": []}


async def test_session_of_a_deleted_user_has_no_user(api: GraphQLClient) -> None:
    await add_user(api, "alice")
    await add_session(api, "s1", userId="alice")
    await api.data('mutation { deleteUser(userId: "alice") { deletedId } }')
    await add_memories(api, "s1", ["revived"])
    session = (await api.data(GET_SESSION, {"sessionId": "s1"}))["session"]
    assert session["userId"] == "alice"
    assert session["user"] is None


async def test_bad_session_ids_are_rejected(api: GraphQLClient) -> None:
    for bad in ["", "s" * 257, "line\nbreak"]:
        error = await api.error(ADD_SESSION, {"input": {"sessionId": bad}})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.sessionId"}
    assert await api.code(GET_SESSION, {"sessionId": ""}) == "BAD_USER_INPUT"
    assert await raw_documents(api, "sessions") == []
