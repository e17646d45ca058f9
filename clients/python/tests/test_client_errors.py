"""Failures reach the caller as the MemqlError subclass of their `extensions.code`: from the
real app where it can produce the code, from httpx.MockTransport in its exact format where
it cannot yet (UNAUTHENTICATED, FORBIDDEN and QUERY_TOO_COMPLEX arrive with authentication
and query limits)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import AsyncHarness

from memql_client import (
    AlreadyExistsError,
    AsyncMemqlClient,
    BadUserInputError,
    ForbiddenError,
    InternalServerError,
    MemoryInput,
    MemqlClient,
    MemqlError,
    NotFoundError,
    QueryTooComplexError,
    UnauthenticatedError,
    UnexpectedResponseError,
)


async def test_invalid_input_is_bad_user_input_naming_the_field_and_stores_nothing(
    client: AsyncMemqlClient,
) -> None:
    with pytest.raises(BadUserInputError) as raised:
        await client.add_memory("chat-1", [MemoryInput("human", "ok"), MemoryInput(" ", "bad")])
    error = raised.value
    assert (error.code, error.field, error.path) == (
        "BAD_USER_INPUT",
        "input.memories[1].role",
        ["addMemory"],
    )
    assert error.status_code == 200 and len(error.errors) == 1
    assert "BAD_USER_INPUT" in str(error) and "input.memories[1].role" in str(error)
    assert await client.get_session("chat-1") is None


async def test_a_document_that_does_not_validate_is_bad_user_input(
    client: AsyncMemqlClient,
) -> None:
    with pytest.raises(BadUserInputError, match="noSuchField"):
        await client.execute("{ users { noSuchField } }")


async def test_changing_what_does_not_exist_is_not_found(client: AsyncMemqlClient) -> None:
    with pytest.raises(NotFoundError) as raised:
        await client.delete_session("nowhere")
    assert (raised.value.code, raised.value.field) == ("NOT_FOUND", "sessionId")
    with pytest.raises(NotFoundError) as raised:
        await client.update_user("nobody", first_name="No")
    assert raised.value.field == "input.userId"


async def test_adding_a_live_user_twice_is_already_exists(client: AsyncMemqlClient) -> None:
    await client.add_user("alice")
    with pytest.raises(AlreadyExistsError) as raised:
        await client.add_user("alice", first_name="Other")
    assert (raised.value.code, raised.value.field) == ("ALREADY_EXISTS", "input.userId")
    user = await client.get_user("alice")
    assert user is not None and user.first_name is None


async def test_an_unexpected_server_failure_is_internal_with_its_request_id(
    harness: AsyncHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(session_id: str) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(harness.store.sessions, "delete", broken)
    with pytest.raises(InternalServerError) as raised:
        await harness.client.delete_session("chat-1")
    error = raised.value
    assert error.code == "INTERNAL_SERVER_ERROR"
    assert error.request_id and error.request_id in error.message
    assert "fire" not in str(error)


def answering(status: int, body: object, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handle)


def coded(code: str, message: str, *, executed: bool = True) -> dict[str, Any]:
    """A failed result in memql's format; a request refused before execution (a bad token, a
    document that does not parse) has no `data` key."""
    body: dict[str, Any] = {"errors": [{"message": message, "extensions": {"code": code}}]}
    if executed:
        body["data"] = None
    return body


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            coded("UNAUTHENTICATED", "the token has expired", executed=False),
            UnauthenticatedError,
        ),
        (200, coded("FORBIDDEN", "not your session"), ForbiddenError),
        (200, coded("QUERY_TOO_COMPLEX", "the query asks for 12000 nodes"), QueryTooComplexError),
        (
            400,
            coded("BAD_USER_INPUT", "Syntax Error: Expected Name", executed=False),
            BadUserInputError,
        ),
    ],
    ids=["unauthenticated", "forbidden", "query-too-complex", "graphql-response-json-400"],
)
async def test_codes_from_authentication_and_limits_raise_their_own_exceptions(
    status: int, body: dict[str, Any], expected: type[MemqlError]
) -> None:
    seen: list[httpx.Request] = []
    async with AsyncMemqlClient(
        "http://memql.test/graphql", token="t0k3n", transport=answering(status, body, seen)
    ) as client:
        with pytest.raises(expected) as raised:
            await client.get_session("chat-1")
    error = raised.value
    assert (error.code, error.message, error.status_code) == (
        body["errors"][0]["extensions"]["code"],
        body["errors"][0]["message"],
        status,
    )
    assert seen[0].headers["authorization"] == "Bearer t0k3n"


def test_the_sync_client_raises_the_same_exceptions() -> None:
    seen: list[httpx.Request] = []
    body = coded("UNAUTHENTICATED", "missing token", executed=False)
    transport = answering(401, body, seen)
    with (
        MemqlClient("http://memql.test/graphql", transport=transport) as client,
        pytest.raises(UnauthenticatedError),
    ):
        client.add_memory("chat-1", [MemoryInput("human", "hi")])
    assert "authorization" not in seen[0].headers


async def test_a_code_the_client_does_not_know_still_raises_with_that_code() -> None:
    body = coded("RATE_LIMITED", "slow down")
    transport = answering(200, body, [])
    async with AsyncMemqlClient("http://memql.test/graphql", transport=transport) as client:
        with pytest.raises(MemqlError) as raised:
            await client.purge_deleted()
    assert type(raised.value) is MemqlError and raised.value.code == "RATE_LIMITED"


@pytest.mark.parametrize(
    "respond",
    [
        lambda: httpx.Response(502, text="<html>Bad Gateway</html>"),
        lambda: httpx.Response(200, json={"hello": "world"}),
        lambda: httpx.Response(404, json={"detail": "Not Found"}),
    ],
    ids=["proxy-error-page", "json-but-not-graphql", "wrong-path"],
)
async def test_an_answer_that_is_not_graphql_raises_unexpected_response(
    respond: Callable[[], httpx.Response],
) -> None:
    transport = httpx.MockTransport(lambda request: respond())
    async with AsyncMemqlClient("http://memql.test/graphql", transport=transport) as client:
        with pytest.raises(UnexpectedResponseError) as raised:
            await client.get_user("alice")
    assert raised.value.code is None
    assert raised.value.status_code == respond().status_code
    assert "memql.test/graphql" in str(raised.value)


async def test_requests_ask_for_graphql_responses_and_send_variables_as_json() -> None:
    seen: list[httpx.Request] = []
    body = {"data": {"session": None}}
    transport = answering(200, body, seen)
    async with AsyncMemqlClient("http://memql.test/graphql", transport=transport) as client:
        assert await client.get_session("chat-1") is None
    (request,) = seen
    assert request.method == "POST"
    assert request.headers["accept"].startswith("application/graphql-response+json")
    sent = json.loads(request.content)
    assert sent["variables"] == {"sessionId": "chat-1"}
    assert "session(sessionId: $sessionId)" in sent["query"]
