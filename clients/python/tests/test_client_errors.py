"""Failures reach the caller as the MemqlError subclass of their `extensions.code`, each
produced by the real app; httpx.MockTransport only for answers memql never gives (unknown
codes, proxies' error pages)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from app.auth import issue_token
from app.store.sessions import SessionStore
from app.web.http import create_app
from conftest import AUTH_SECRET, AsyncHarness, app_running, client_test_settings, serving, token

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
    async def broken(store: SessionStore, session_id: str, **kwargs: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(SessionStore, "delete", broken)
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


NESTED_100 = (
    "{ users(first: 100) { edges { node { sessions(first: 100) { edges { node {"
    " memories(first: 100) { totalCount } } } } } } } }"
)


@pytest.fixture
async def secured() -> AsyncIterator[httpx.ASGITransport]:
    """The real app with authentication on; bob owns the session `bobs`."""
    async with app_running(auth_secret=AUTH_SECRET) as app:
        transport = httpx.ASGITransport(app=app)
        async with AsyncMemqlClient(URL, token=token(), transport=transport) as admin:
            await admin.add_user("bob")
            await admin.add_session("bobs", user_id="bob")
        yield transport


URL = "http://memql.test/graphql"


@pytest.mark.parametrize("credential", [None, "not-a-token", "expired"])
async def test_a_missing_or_bad_token_is_unauthenticated_with_status_401(
    secured: httpx.ASGITransport, credential: str | None
) -> None:
    if credential == "expired":
        credential = issue_token(AUTH_SECRET, ttl=timedelta(seconds=-1), admin=True)
    async with AsyncMemqlClient(URL, token=credential, transport=secured) as client:
        with pytest.raises(UnauthenticatedError) as raised:
            await client.get_session("bobs")
    assert (raised.value.code, raised.value.status_code) == ("UNAUTHENTICATED", 401)


async def test_someone_elses_session_is_forbidden(secured: httpx.ASGITransport) -> None:
    async with AsyncMemqlClient(URL, token=token("alice"), transport=secured) as alice:
        with pytest.raises(ForbiddenError) as raised:
            await alice.get_session("bobs")
        assert (raised.value.code, raised.value.field) == ("FORBIDDEN", "sessionId")
        with pytest.raises(ForbiddenError):
            await alice.add_memory("bobs", [MemoryInput("human", "hi")])
        with pytest.raises(ForbiddenError):
            await alice.purge_deleted()
        # ...while alice's own session is hers.
        await alice.add_memory("alices", [MemoryInput("human", "hi")])
        session = await alice.get_session("alices")
        assert session is not None and session.user_id == "alice"


async def test_an_oversized_query_is_query_too_complex_with_status_400(
    client: AsyncMemqlClient,
) -> None:
    # The client asks for application/graphql-response+json, so refusals before execution
    # come back as HTTP 400 without `data`, as GraphQL over HTTP says.
    with pytest.raises(QueryTooComplexError) as raised:
        await client.execute(NESTED_100)
    assert (raised.value.code, raised.value.status_code) == ("QUERY_TOO_COMPLEX", 400)


async def test_a_document_that_does_not_parse_is_bad_user_input_with_status_400(
    client: AsyncMemqlClient,
) -> None:
    with pytest.raises(BadUserInputError) as raised:
        await client.execute("{ users {")
    assert (raised.value.code, raised.value.status_code) == ("BAD_USER_INPUT", 400)


def test_the_sync_client_raises_the_same_exceptions() -> None:
    with serving(create_app(client_test_settings(auth_secret=AUTH_SECRET))) as server:
        url = f"{server.url}/graphql"
        with MemqlClient(url) as anonymous, pytest.raises(UnauthenticatedError) as raised:
            anonymous.add_memory("chat-1", [MemoryInput("human", "hi")])
        assert raised.value.status_code == 401
        with MemqlClient(url, token=token("alice")) as alice:
            alice.add_memory("chat-1", [MemoryInput("human", "hi")])
            with pytest.raises(QueryTooComplexError):
                alice.execute(NESTED_100)
        with MemqlClient(url, token=token("bob")) as bob, pytest.raises(ForbiddenError):
            bob.get_session("chat-1")


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
