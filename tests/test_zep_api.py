"""Zep v0.x's REST API at /zep: its routes, shapes, status codes and plain-text errors, over the
same data GraphQL serves (over httpx's ASGI transport; tests/test_zep_sdk.py drives the real SDK
against a live server)."""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import datetime
from typing import Any

import pytest
from bson import ObjectId

from app.errors import ErrorCode
from app.web.zep.errors import STATUS
from schema.global_ids import from_global_id
from tests.support.client import SECRET, GraphQLClient, running_app
from tests.support.data import (
    World,
    add_memories,
    add_session,
    add_user,
    memory_contents,
    raw_documents,
    snapshot,
)
from tests.support.stores import make_settings
from tests.zep import ZEP_VERSION, Zep

GO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


def object_id_of(zep_uuid: str) -> ObjectId:
    """The reverse of app.web.zep.shapes.zep_uuid: the ObjectId around the 4 fixed bytes."""
    raw = uuid.UUID(zep_uuid).bytes
    assert raw[6:10] == bytes([0x80, 0x00, 0x80, 0x00])
    return ObjectId(raw[:6] + raw[10:])


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def zep(api: GraphQLClient) -> Zep:
    return Zep(api)


def test_every_error_code_has_its_zep_status() -> None:
    """A new code must say how Zep's clients see it (app/web/zep/errors.py)."""
    assert set(STATUS) == set(ErrorCode)


async def test_healthz_is_a_dot_without_a_token_and_memqls_own_stays_json() -> None:
    async with running_app(make_settings(auth_secret=SECRET)) as api:
        response = await api.http.get("/zep/healthz")
        assert (response.status_code, response.text) == (200, ".")
        assert response.headers["x-zep-version"] == ZEP_VERSION
        assert response.headers["content-type"].startswith("text/plain")
        # memql's own, where zep-js checks (`${baseURL}/healthz`, its base URL the origin):
        # the same JSON, with the version zep-js warns without.
        own = await api.http.get("/healthz")
        assert own.json() == {"status": "ok"}
        assert own.headers["x-zep-version"] == ZEP_VERSION
        # Everything under /api/v1 needs the token, as GraphQL does.
        refused = await api.http.get("/zep/api/v1/sessions")
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("text/plain")


async def test_every_response_under_zep_carries_the_version(zep: Zep) -> None:
    for method, path in [
        ("GET", "/zep/nowhere"),
        ("GET", "/zep/api/v1/nowhere"),
        ("PUT", "/zep/api/v1/sessions"),
        ("GET", "/zep/api/v1/sessions/unknown"),
        ("GET", "/api/v1/nowhere"),
        ("GET", "/api/v1/sessions/unknown"),
    ]:
        response = await zep.api.http.request(method, path)
        assert response.status_code in (404, 405), path
        assert response.headers["x-zep-version"] == ZEP_VERSION, path
        if response.status_code == 404:  # Zep's own text, for a route it lacks too
            assert response.text == "not found\n", path
    graphql = await zep.api.http.post("/graphql", json={"query": "{ __typename }"})
    assert "x-zep-version" not in graphql.headers


async def test_a_session_round_trips_in_zeps_shape_and_is_graphqls_session(zep: Zep) -> None:
    created = await zep.call("POST", "/sessions", {"session_id": "s1", "metadata": {"a": {"b": 1}}})
    assert created.status_code == 201
    session = created.json()
    assert session["id"] is None and session["deleted_at"] is None
    assert session["session_id"] == "s1" and session["user_id"] is None
    assert session["metadata"] == {"a": {"b": 1}}
    assert GO_TIME.fullmatch(session["created_at"]) and GO_TIME.fullmatch(session["updated_at"])
    data = await zep.api.data('{ session(sessionId: "s1") { id metadata createdAt updatedAt } }')
    graphql = data["session"]
    # The uuid is the ObjectId behind the global ID, and the times are the same instants.
    assert str(object_id_of(session["uuid"])) == from_global_id(graphql["id"])[1]
    assert instant(session["created_at"]) == instant(graphql["createdAt"])
    assert (await zep.call("GET", "/sessions/s1")).json() == session

    patched = await zep.call(
        "PATCH", "/sessions/s1", {"session_id": "ignored", "metadata": {"a": {"c": 2}, "d": 3}}
    )
    assert patched.status_code == 200
    assert patched.json()["metadata"] == {"a": {"b": 1, "c": 2}, "d": 3}
    removed = await zep.call("PATCH", "/sessions/s1", {"metadata": {"d": None}})
    assert removed.json()["metadata"] == {"a": {"b": 1, "c": 2}}
    data = await zep.api.data('{ session(sessionId: "s1") { metadata } }')
    assert data["session"]["metadata"] == {"a": {"b": 1, "c": 2}}


async def test_a_session_read_back_from_the_api_can_be_sent_back(zep: Zep) -> None:
    """The SDK's update_session sends the whole Session it holds, server fields included."""
    await add_user(zep.api, "u1")
    session = (await zep.call("POST", "/sessions", {"session_id": "s1", "user_id": "u1"})).json()
    session["metadata"] = {"k": "v"}
    response = await zep.call("PATCH", "/sessions/s1", session)
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"k": "v"} and response.json()["user_id"] == "u1"


async def test_memory_is_the_last_12_messages_by_default_and_lastn_more_or_fewer(
    zep: Zep,
) -> None:
    contents = [f"m{index}" for index in range(15)]
    messages = [{"role": "human", "content": content} for content in contents]
    added = await zep.call("POST", "/sessions/s1/memory", {"messages": messages})
    assert (added.status_code, added.text) == (200, "OK")
    memory = (await zep.call("GET", "/sessions/s1/memory")).json()
    assert memory["summary"] is None
    assert [message["content"] for message in memory["messages"]] == contents[-12:]
    message = memory["messages"][0]
    assert set(message) == {
        "uuid",
        "created_at",
        "updated_at",
        "role",
        "content",
        "metadata",
        "token_count",
    }
    assert message["token_count"] == 0 and message["metadata"] == {}
    three = (await zep.call("GET", "/sessions/s1/memory?lastn=3")).json()["messages"]
    assert [message["content"] for message in three] == contents[-3:]
    everything = (await zep.call("GET", "/sessions/s1/memory?lastn=20")).json()["messages"]
    assert [message["content"] for message in everything] == contents


async def test_added_messages_keep_their_role_and_get_its_role_type(zep: Zep) -> None:
    roles = ["human", "ai", "system", "tool", "function", "user", "assistant", "Alice"]
    messages = [{"role": role, "content": role, "metadata": {"n": 1}} for role in roles]
    await zep.call("POST", "/sessions/new/memory", {"messages": messages})
    data = await zep.api.data(
        '{ session(sessionId: "new") { memories(first: 10) { edges { node '
        "{ uuid role roleType content metadata createdAt } } } } }"
    )
    nodes = [edge["node"] for edge in data["session"]["memories"]["edges"]]
    assert [(node["role"], node["roleType"]) for node in nodes] == [
        ("human", "USER"),
        ("ai", "ASSISTANT"),
        ("system", "SYSTEM"),
        ("tool", "TOOL"),
        ("function", "FUNCTION"),
        ("user", "USER"),
        ("assistant", "ASSISTANT"),
        ("Alice", None),
    ]
    zep_messages = (await zep.call("GET", "/sessions/new/messages")).json()["messages"]
    for node, message in zip(nodes, zep_messages, strict=True):
        assert message["uuid"] == node["uuid"]
        assert (message["role"], message["content"]) == (node["role"], node["content"])
        assert message["metadata"] == node["metadata"] == {"n": 1}
        assert instant(message["created_at"]) == instant(node["createdAt"])


async def test_graphql_writes_read_the_same_over_zep(zep: Zep) -> None:
    user = await add_user(zep.api, "u1", email="u@example.com", metadata={"plan": "pro"})
    session = await add_session(zep.api, "s1", userId="u1", metadata={"topic": "tea"})
    added = await add_memories(zep.api, "s1", ["hello", "hi"])
    zep_user = (await zep.call("GET", "/user/u1")).json()
    assert str(object_id_of(zep_user["uuid"])) == from_global_id(user["id"])[1]
    assert (zep_user["user_id"], zep_user["email"], zep_user["metadata"]) == (
        "u1",
        "u@example.com",
        {"plan": "pro"},
    )
    zep_session = (await zep.call("GET", "/sessions/s1")).json()
    assert str(object_id_of(zep_session["uuid"])) == from_global_id(session["id"])[1]
    assert (zep_session["user_id"], zep_session["metadata"]) == ("u1", {"topic": "tea"})
    sessions = (await zep.call("GET", "/user/u1/sessions")).json()
    assert [listed["session_id"] for listed in sessions] == ["s1"]
    messages = (await zep.call("GET", "/sessions/s1/memory")).json()["messages"]
    assert [(m["uuid"], m["content"]) for m in messages] == [
        (memory["uuid"], memory["content"]) for memory in added
    ]


async def test_deleting_memory_deletes_the_session_and_adding_brings_it_back_alone(
    zep: Zep,
) -> None:
    await zep.call("POST", "/sessions/s1/memory", {"messages": [{"role": "ai", "content": "old"}]})
    deleted = await zep.call("DELETE", "/sessions/s1/memory")
    assert (deleted.status_code, deleted.text) == (200, "OK")
    assert (await zep.call("GET", "/sessions/s1")).status_code == 404
    assert (await zep.call("GET", "/sessions/s1/memory")).status_code == 404
    assert (await zep.api.data('{ session(sessionId: "s1") { id } }'))["session"] is None
    await zep.call("POST", "/sessions/s1/memory", {"messages": [{"role": "ai", "content": "new"}]})
    assert (await zep.call("GET", "/sessions/s1")).status_code == 200
    messages = (await zep.call("GET", "/sessions/s1/memory")).json()["messages"]
    assert [message["content"] for message in messages] == ["new"]
    assert await memory_contents(zep.api, "s1") == ["new"]
    stored = await raw_documents(zep.api, "memories", sessionId="s1")
    assert {doc["content"]: "deletedAt" in doc for doc in stored} == {"old": True, "new": False}
    assert (await zep.call("DELETE", "/sessions/unknown/memory")).status_code == 404


async def test_messages_are_paged_by_page_number_with_counts(zep: Zep) -> None:
    contents = [f"m{index}" for index in range(5)]
    messages = [{"role": "human", "content": content} for content in contents]
    await zep.call("POST", "/sessions/s1/memory", {"messages": messages})
    pages = []
    for page in (1, 2, 3, 4):
        body = (await zep.call("GET", f"/sessions/s1/messages?limit=2&cursor={page}")).json()
        assert body["total_count"] == 5
        assert body["row_count"] == len(body["messages"])
        pages.append([message["content"] for message in body["messages"]])
    assert pages == [["m0", "m1"], ["m2", "m3"], ["m4"], []]
    # The SDK's defaults: limit=100, cursor=1.
    first = (await zep.call("GET", "/sessions/s1/messages?limit=100&cursor=1")).json()
    assert [message["content"] for message in first["messages"]] == contents
    assert (await zep.call("GET", "/sessions/unknown/messages")).status_code == 404


async def test_one_message_is_read_and_its_metadata_merged(zep: Zep) -> None:
    await zep.call(
        "POST",
        "/sessions/s1/memory",
        {"messages": [{"role": "human", "content": "hi", "metadata": {"a": 1, "b": {"c": 2}}}]},
    )
    await zep.call("POST", "/sessions/s2/memory", {"messages": [{"role": "ai", "content": "x"}]})
    message = (await zep.call("GET", "/sessions/s1/memory")).json()["messages"][0]
    message_path = f"/sessions/s1/messages/{message['uuid']}"
    assert (await zep.call("GET", message_path)).json() == message
    # The same message by its uuid in upper case, as Go's parser reads it too.
    assert (
        await zep.call(
            "GET", message_path.upper().replace("/SESSIONS/S1/MESSAGES/", "/sessions/s1/messages/")
        )
    ).status_code == 200
    patched = await zep.call(
        "PATCH", message_path, {"metadata": {"b": {"d": 3}, "a": None, "e": [1]}}
    )
    assert patched.status_code == 200
    assert patched.json()["metadata"] == {"b": {"c": 2, "d": 3}, "e": [1]}
    data = await zep.api.data(
        '{ session(sessionId: "s1") { memories(first: 1) { edges { node { metadata } } } } }'
    )
    assert data["session"]["memories"]["edges"][0]["node"]["metadata"] == {
        "b": {"c": 2, "d": 3},
        "e": [1],
    }
    # A message is found only under its own session.
    other = f"/sessions/s2/messages/{message['uuid']}"
    assert (await zep.call("GET", other)).status_code == 404
    before = await snapshot(zep.api)
    assert (await zep.call("PATCH", other, {"metadata": {"x": 1}})).status_code == 404
    assert await snapshot(zep.api) == before


async def test_users_are_added_read_updated_listed_and_deleted(zep: Zep) -> None:
    created = await zep.call(
        "POST",
        "/user",
        {"user_id": "u1", "email": "a@example.com", "first_name": "A", "metadata": {"k": 1}},
    )
    assert created.status_code == 201
    user = created.json()
    assert user["id"] is None and user["deleted_at"] is None
    assert (user["first_name"], user["last_name"]) == ("A", None)
    assert (await zep.call("GET", "/user/u1")).json() == user
    taken = await zep.call("POST", "/user", {"user_id": "u1"})
    assert taken.status_code == 400 and "already exists" in taken.text
    updated = await zep.call(
        "PATCH", "/user/u1", {"uuid": user["uuid"], "last_name": "B", "metadata": {"j": 2}}
    )
    assert (updated.json()["first_name"], updated.json()["last_name"]) == ("A", "B")
    assert updated.json()["metadata"] == {"k": 1, "j": 2}
    data = await zep.api.data('{ user(userId: "u1") { lastName metadata } }')
    assert data["user"] == {"lastName": "B", "metadata": {"k": 1, "j": 2}}
    await zep.call("POST", "/sessions", {"session_id": "s1", "user_id": "u1"})
    await zep.call("POST", "/sessions/s1/memory", {"messages": [{"role": "ai", "content": "c"}]})
    deleted = await zep.call("DELETE", "/user/u1")
    assert (deleted.status_code, deleted.text) == (200, "OK")
    assert (await zep.call("GET", "/user/u1")).status_code == 404
    assert (await zep.call("GET", "/sessions/s1")).status_code == 404
    assert (await zep.call("DELETE", "/user/u1")).status_code == 404
    assert (await zep.call("PATCH", "/user/u1", {"email": "x"})).status_code == 404


async def test_lists_page_by_offset_over_live_items_oldest_first(zep: Zep) -> None:
    for index in range(7):
        await zep.call("POST", "/sessions", {"session_id": f"s{index}"})
        await zep.call("POST", "/user", {"user_id": f"u{index}"})
    await zep.call("DELETE", "/sessions/s2/memory")
    await zep.call("DELETE", "/user/u2")

    async def walk(path: str, key: str) -> list[str]:
        seen: list[str] = []
        for offset in range(0, 9, 3):
            page = (await zep.call("GET", f"{path}?limit=3&cursor={offset}")).json()
            seen.extend(item[key] for item in page)
        return seen

    live = ["0", "1", "3", "4", "5", "6"]
    assert await walk("/sessions", "session_id") == [f"s{n}" for n in live]
    assert await walk("/user", "user_id") == [f"u{n}" for n in live]
    # The SDK's user list sends parameters it has no value for as empty strings.
    users = (await zep.call("GET", "/user?limit=&cursor=")).json()
    assert [user["user_id"] for user in users] == [f"u{n}" for n in live]


async def test_lists_are_capped_at_the_maximum_page_size() -> None:
    async with running_app(make_settings(max_page_size=3, default_page_size=2)) as api:
        zep = Zep(api)
        for index in range(5):
            await zep.call("POST", "/sessions", {"session_id": f"s{index}"})
        assert len((await zep.call("GET", "/sessions")).json()) == 3
        too_many = await zep.call("GET", "/sessions?limit=4")
        assert too_many.status_code == 400
        assert too_many.text == "limit must be at most 3 (the maximum page size)\n"


@pytest.mark.parametrize(
    ("method", "path", "body", "text"),
    [
        ("POST", "/sessions", b"{", "Invalid JSON: EOF while parsing an object"),
        ("POST", "/sessions", b"[]", "Input should be an object"),
        ("POST", "/sessions", {"session_id": 5}, "session_id: Input should be a valid string"),
        ("POST", "/sessions", {"metadata": {}}, "session_id: Field required"),
        ("POST", "/sessions", {"session_id": "s9", "tags": []}, 'json: unknown field "tags"'),
        ("POST", "/sessions", {"session_id": ""}, "sessionId must not be empty"),
        ("POST", "/sessions", {"session_id": "s9", "metadata": []}, "metadata: Input should be"),
        ("POST", "/sessions", {"session_id": "s9", "metadata": {"$x": 1}}, "must not start"),
        ("POST", "/sessions", {"session_id": "s0"}, "already exists"),
        ("PATCH", "/sessions/s0", {"metadata": "x"}, "metadata: Input should be"),
        ("POST", "/user", {"user_id": "u9", "email": 1}, "email: Input should be a valid string"),
        ("PATCH", "/user/u0", {"uuid": "not-a-uuid"}, "uuid: Input should be a valid UUID"),
        ("POST", "/sessions/s0/memory", {"messages": []}, "must hold at least one memory"),
        ("POST", "/sessions/s0/memory", {"messages": [{"role": "h"}]}, "content: Field required"),
        ("POST", "/sessions/s0/memory", {"messages": [{"role": "", "content": "c"}]}, "empty"),
        (
            "POST",
            "/sessions/s0/memory",
            {"messages": [{"role": "h", "content": "c", "token_count": "1"}]},
            "messages.0.token_count: Input should be a valid integer",
        ),
        (
            "POST",
            "/sessions/s0/memory",
            {"messages": [{"role": "h", "content": "c", "x": 1}]},
            'json: unknown field "x"',
        ),
        ("PATCH", "/sessions/s0/messages/{uuid}", {"foo": "bar"}, 'json: unknown field "foo"'),
        ("PATCH", "/sessions/s0/messages/{uuid}", {"metadata": None}, "metadata: Input should"),
        (
            "GET",
            "/sessions/s0/messages/not-a-uuid",
            None,
            "unable to parse document UUID: invalid UUID length: 10",
        ),
        (
            "GET",
            "/sessions/s0/messages/" + "z" * 36,
            None,
            "unable to parse document UUID: invalid UUID format",
        ),
        ("GET", "/sessions/s0/memory?lastn=-1", None, "lastn must be greater than 0"),
        ("GET", "/sessions/s0/memory?lastn=0", None, "lastn must be greater than 0"),
        (
            "GET",
            "/sessions/s0/memory?lastn=x",
            None,
            'strconv.ParseInt: parsing "x": invalid syntax',
        ),
        ("GET", "/sessions?limit=" + "9" * 20, None, "value out of range"),
        ("GET", "/sessions?limit=-1", None, "limit must not be negative"),
        ("GET", "/sessions?cursor=-1", None, "cursor must not be negative"),
        ("GET", "/sessions/s0/messages?cursor=-2", None, "cursor must be at least 1"),
        ("GET", "/sessions/s0/messages?limit=1.5", None, "invalid syntax"),
    ],
)
async def test_bad_input_is_refused_in_zeps_plain_text_and_changes_nothing(
    zep: Zep, method: str, path: str, body: Any, text: str
) -> None:
    await zep.call("POST", "/sessions/s0/memory", {"messages": [{"role": "h", "content": "c"}]})
    await zep.call("POST", "/user", {"user_id": "u0"})
    message = (await zep.call("GET", "/sessions/s0/memory")).json()["messages"][0]
    before = await snapshot(zep.api)
    response = await zep.call(method, path.replace("{uuid}", message["uuid"]), body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert text in response.text and response.text.endswith("\n")
    assert await snapshot(zep.api) == before


@pytest.mark.parametrize(
    ("method", "path", "feature"),
    [
        ("GET", "/collection", "document collections"),
        ("POST", "/collection/docs", "document collections"),
        ("POST", "/collection/docs/document", "document collections"),
        ("POST", "/collection/docs/search?limit=3", "document collections"),
        ("DELETE", "/collection/docs/document/uuid/x", "document collections"),
    ],
)
async def test_what_memql_lacks_is_501_with_one_line_naming_it(
    zep: Zep, method: str, path: str, feature: str
) -> None:
    response = await zep.call(method, path, {"text": "tea"} if method == "POST" else None)
    assert response.status_code == 501
    assert response.text == f"memql does not implement Zep's {feature}\n"


async def test_a_summary_is_501_and_stores_nothing(zep: Zep) -> None:
    before = await snapshot(zep.api)
    response = await zep.call(
        "POST",
        "/sessions/s0/memory",
        {"messages": [{"role": "h", "content": "c"}], "summary": {"content": "short"}},
    )
    assert (response.status_code, response.text) == (
        501,
        "memql does not implement Zep's summaries\n",
    )
    assert await snapshot(zep.api) == before


async def test_tokens_confine_zep_calls_as_they_confine_graphql(world: World) -> None:
    alice, bob, admin = Zep(world.alice), Zep(world.bob), Zep(world.admin)
    anonymous = Zep(GraphQLClient(world.admin.http, world.admin.app))
    missing = await anonymous.call("GET", "/sessions/a1")
    assert missing.status_code == 401 and missing.headers["www-authenticate"]
    garbage = Zep(world.admin.with_token("garbage"))
    assert (await garbage.call("GET", "/sessions/a1")).status_code == 401
    assert (await alice.call("GET", "/sessions/a1")).status_code == 200
    # Another user's session, and one that does not exist: the same 403.
    assert (await alice.call("GET", "/sessions/b1")).status_code == 403
    assert (await alice.call("GET", "/sessions/nowhere")).status_code == 403
    assert (await admin.call("GET", "/sessions/nowhere")).status_code == 404
    sessions = (await alice.call("GET", "/sessions")).json()
    assert [session["session_id"] for session in sessions] == ["a1", "a2"]
    assert [user["user_id"] for user in (await alice.call("GET", "/user")).json()] == ["alice"]
    before = await snapshot(world.admin)
    for method, path, body in [
        ("POST", "/sessions/b1/memory", {"messages": [{"role": "h", "content": "c"}]}),
        ("PATCH", "/sessions/b1", {"metadata": {"k": 1}}),
        ("DELETE", "/sessions/b1/memory", None),
        ("PATCH", "/user/bob", {"email": "x"}),
        ("DELETE", "/user/bob", None),
        ("GET", "/user/bob/sessions", None),
        ("PATCH", f"/sessions/b1/messages/{world.ids['b1:uuid']}", {"metadata": {"k": 1}}),
        ("PATCH", "/sessions/a1", {"metadata": {"system": {"flag": True}}}),
        (
            "POST",
            "/sessions/a1/memory",
            {"messages": [{"role": "h", "content": "c", "metadata": {"system": 1}}]},
        ),
        # The memory's own metadata is not stored (Zep's was not either), but it is checked as
        # every metadata write is: no silent acceptance of what memql refuses elsewhere.
        (
            "POST",
            "/sessions/a1/memory",
            {"messages": [{"role": "h", "content": "c"}], "metadata": {"system": 1}},
        ),
    ]:
        response = await alice.call(method, path, body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.headers["content-type"].startswith("text/plain")
    assert await snapshot(world.admin) == before
    patched = await admin.call("PATCH", "/sessions/a1", {"metadata": {"system": {"flag": True}}})
    assert patched.json()["metadata"] == {"system": {"flag": True}}
    # A user token's new session is its own.
    await bob.call("POST", "/sessions/b-new/memory", {"messages": [{"role": "h", "content": "c"}]})
    assert (await admin.call("GET", "/sessions/b-new")).json()["user_id"] == "bob"


async def test_a_deleted_users_token_is_refused(world: World) -> None:
    await Zep(world.admin).call("DELETE", "/user/alice")
    assert (await Zep(world.alice).call("GET", "/sessions")).status_code == 401


async def test_a_body_over_the_limit_is_413_in_plain_text() -> None:
    async with running_app(make_settings(max_body_bytes=1024)) as api:
        zep = Zep(api)
        content = "x" * 2000
        response = await zep.call(
            "POST", "/sessions/s1/memory", {"messages": [{"role": "h", "content": content}]}
        )
        assert response.status_code == 413
        assert response.text == "the request body is over the limit of 1024 bytes\n"
        assert (await api.data('{ session(sessionId: "s1") { id } }'))["session"] is None


async def test_an_unexpected_error_is_500_in_plain_text_with_the_request_id(
    zep: Zep, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(zep.api.store.db.sessions, "find", broken)
    caplog.set_level(logging.ERROR, logger="memql")
    response = await zep.call("GET", "/sessions", headers={"x-request-id": "req-9"})
    assert response.status_code == 500
    assert response.text == "Internal server error (request id req-9).\n"
    assert response.headers["x-request-id"] == "req-9"
    assert any("req-9" in record.getMessage() for record in caplog.records)


async def test_browsers_may_patch_and_delete_over_cors() -> None:
    async with running_app(make_settings(cors_origins=["https://chat.example"])) as api:
        response = await api.http.options(
            "/zep/api/v1/sessions/s1",
            headers={
                "origin": "https://chat.example",
                "access-control-request-method": "PATCH",
            },
        )
        assert response.status_code == 200
        assert "PATCH" in response.headers["access-control-allow-methods"]
        assert "DELETE" in response.headers["access-control-allow-methods"]


async def test_the_zep_api_can_be_turned_off() -> None:
    async with running_app(make_settings(zep_api=False)) as api:
        for path in ("/zep/healthz", "/zep/api/v1/sessions", "/api/v1/sessions"):
            response = await api.http.get(path)
            assert response.status_code == 404
            assert "x-zep-version" not in response.headers
        own = await api.http.get("/healthz")
        assert own.status_code == 200 and "x-zep-version" not in own.headers


async def test_the_api_at_the_root_is_the_one_under_zep(zep: Zep) -> None:
    """zep-js 0.10 replaces its base URL's path with /api/v1: the same routes answer there."""
    root = zep.api.http
    created = await root.post("/api/v1/sessions", json={"session_id": "r", "metadata": {"a": 1}})
    assert created.status_code == 201
    under_zep = await root.get("/zep/api/v1/sessions/r")
    at_root = await root.get("/api/v1/sessions/r")
    assert (at_root.status_code, at_root.json()) == (200, under_zep.json())
    assert at_root.json()["metadata"] == {"a": 1}
    bad = await root.post("/api/v1/sessions", content=b"{")
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/plain")
    # memql's own routes are not shadowed.
    assert (await root.post("/graphql", json={"query": "{ __typename }"})).status_code == 200
    assert (await root.get("/readyz")).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"content-type": "text/plain;charset=UTF-8"}],
    ids=["no content type", "text/plain as Node's fetch sends"],
)
async def test_a_json_body_is_read_whatever_content_type_it_is_sent_with(
    zep: Zep, headers: dict[str, str]
) -> None:
    await zep.api.http.post("/api/v1/sessions", json={"session_id": "t"})
    body = json.dumps({"messages": [{"role": "human", "content": "hi", "token_count": 4}]})
    added = await zep.api.http.post(
        "/api/v1/sessions/t/memory", content=body.encode(), headers=headers
    )
    assert (added.status_code, added.text) == (200, "OK")
    listed = await zep.api.http.get("/api/v1/sessions/t/messages")
    [message] = listed.json()["messages"]
    patched = await zep.api.http.patch(
        f"/api/v1/sessions/t/messages/{message['uuid']}",
        content=json.dumps({"metadata": {"seen": True}}).encode(),
        headers=headers,
    )
    assert patched.status_code == 200 and patched.json()["metadata"] == {"seen": True}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sessions/s/messages?cursor=92233720368547760",
        "/api/v1/sessions/s/messages?limit=100&cursor=9223372036854775807",
        "/api/v1/sessions?cursor=9223372036854775807",
        "/api/v1/user?cursor=9223372036854775807",
    ],
)
async def test_a_page_past_what_a_64_bit_skip_holds_is_400(zep: Zep, path: str) -> None:
    await zep.api.http.post("/api/v1/sessions", json={"session_id": "s"})
    response = await zep.api.http.get(path)
    assert response.status_code == 400, response.text
    assert response.text.startswith("cursor is too large")


EVIL = {"origin": "https://evil.example"}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"user_id": "planted"}'),
        ("application/x-www-form-urlencoded", b'{"user_id": "planted"}'),
        ("multipart/form-data; boundary=x", b'{"user_id": "planted"}'),
    ],
    ids=["text", "form", "multipart"],
)
async def test_a_page_on_another_origin_cannot_write_through_zep_or_graphql(
    zep: Zep, content_type: str, body: bytes
) -> None:
    """Without a token (the default, on loopback) a "simple" cross-site POST needs no preflight:
    refused by its Origin, and nothing written."""
    http = zep.api.http
    before = await snapshot(zep.api)
    for path in ("/zep/api/v1/user", "/api/v1/user"):
        refused = await http.post(
            path, content=body, headers={**EVIL, "content-type": content_type}
        )
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("text/plain")
    mutation = 'mutation { addUser(input: {userId: "planted"}) { user { id } } }'
    graphql = await http.post(
        "/graphql",
        content=json.dumps({"query": mutation}).encode(),
        headers={**EVIL, "content-type": "text/plain"},
    )
    assert graphql.status_code == 403
    assert graphql.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await snapshot(zep.api) == before
    # Reading is not refused, and neither is a write without Origin or from memql's own page.
    assert (await http.get("/api/v1/user", headers=EVIL)).status_code == 200
    for headers in ({}, {"origin": "http://localhost"}):
        added = await http.post(
            "/api/v1/user", json={"user_id": f"u{len(headers)}"}, headers=headers
        )
        assert added.status_code == 201, added.text


async def test_an_origin_of_memql_cors_origins_may_write() -> None:
    settings = make_settings(cors_origins=["https://chat.example"])
    async with running_app(settings) as api:
        added = await api.http.post(
            "/api/v1/user", json={"user_id": "a"}, headers={"origin": "https://chat.example"}
        )
        assert added.status_code == 201
        refused = await api.http.post("/api/v1/user", json={"user_id": "b"}, headers=EVIL)
        assert refused.status_code == 403


async def test_search_answers_zeps_search_results_best_first(zep: Zep) -> None:
    await zep.call(
        "POST",
        "/sessions/s0/memory",
        {
            "messages": [
                {"role": "human", "content": "Which tea has no caffeine?", "metadata": {"k": 1}},
                {"role": "ai", "content": "Rooibos tea: no caffeine at all."},
                {"role": "human", "content": "And coffee?"},
            ]
        },
    )
    await zep.call(
        "POST", "/sessions/other/memory", {"messages": [{"role": "h", "content": "tea"}]}
    )
    payload = {
        "text": "ROOIBOS tea",
        "metadata": None,
        "search_scope": "messages",
        "search_type": "similarity",
        "mmr_lambda": None,
    }
    response = await zep.call("POST", "/sessions/s0/search?limit=10", payload)
    assert response.status_code == 200, response.text
    results = response.json()
    assert [result["message"]["content"] for result in results] == [
        "Rooibos tea: no caffeine at all.",
        "Which tea has no caffeine?",
    ]
    assert results[0]["dist"] == 1.0 and 0 < results[1]["dist"] < 1
    assert results[1]["metadata"] == {"k": 1} == results[1]["message"]["metadata"]
    assert all(result["summary"] is None for result in results)
    message = results[0]["message"]
    assert set(message) == {
        "uuid",
        "created_at",
        "updated_at",
        "role",
        "content",
        "metadata",
        "token_count",
    }
    assert message["role"] == "ai" and GO_TIME.fullmatch(message["created_at"])
    one = await zep.call("POST", "/sessions/s0/search?limit=1", {"text": "tea"})
    assert len(one.json()) == 1
    assert (await zep.call("POST", "/sessions/s0/search", {"text": "pizza"})).json() == []
    # With no limit, a page of the largest size.
    assert len((await zep.call("POST", "/sessions/s0/search", {"text": "caffeine"})).json()) == 2


@pytest.mark.parametrize(
    ("body", "feature"),
    [
        ({"text": "tea", "search_scope": "summary"}, "summary search"),
        ({"text": "tea", "search_type": "mmr", "mmr_lambda": 0.5}, "MMR search (search_type mmr)"),
        (
            {"text": "tea", "metadata": {"where": {"jsonpath": "$.k"}}},
            "metadata filters in memory search",
        ),
    ],
)
async def test_search_memql_lacks_is_501_naming_it(
    zep: Zep, body: dict[str, Any], feature: str
) -> None:
    await zep.call("POST", "/sessions/s0/memory", {"messages": [{"role": "h", "content": "tea"}]})
    response = await zep.call("POST", "/sessions/s0/search", body)
    assert (response.status_code, response.text) == (
        501,
        f"memql does not implement Zep's {feature}\n",
    )
    empty_filter = await zep.call(
        "POST", "/sessions/s0/search", {"text": "tea", "metadata": {"where": {}}}
    )
    assert empty_filter.status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"text": ""}, 400),
        ({"text": "  "}, 400),
        ({}, 400),
        ({"text": "x" * 1001}, 400),
        ({"text": "tea", "search_type": "fuzzy"}, 400),
        ({"text": "tea", "search_scope": "everything"}, 400),
        ({"text": "tea", "extra": 1}, 400),
        ({"text": 5}, 400),
    ],
)
async def test_bad_searches_are_400(zep: Zep, body: dict[str, Any], status: int) -> None:
    await zep.call("POST", "/sessions/s0/memory", {"messages": [{"role": "h", "content": "tea"}]})
    response = await zep.call("POST", "/sessions/s0/search", body)
    assert response.status_code == status, response.text


async def test_search_of_a_missing_session_is_404_and_of_anothers_403(world: World) -> None:
    admin, alice = Zep(world.admin), Zep(world.alice)
    assert (await admin.call("POST", "/sessions/nowhere/search", {"text": "a"})).status_code == 404
    texts = []
    for session in ("b1", "nowhere", "free"):
        refused = await alice.call("POST", f"/sessions/{session}/search", {"text": session})
        assert refused.status_code == 403, refused.text
        texts.append(refused.text.replace(session, "ID"))
    assert len(set(texts)) == 1, texts
    own = await alice.call("POST", "/sessions/a1/search", {"text": "a1 b1"})
    assert [result["message"]["content"] for result in own.json()] == ["a1"]
    await admin.call("DELETE", "/sessions/a1/memory")
    assert (await admin.call("POST", "/sessions/a1/search", {"text": "a1"})).status_code == 404
