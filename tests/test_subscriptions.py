"""`memoryAdded` over graphql-transport-ws, on a live server's real socket: order, gapless resume
with `after`, errors that leave the socket open, authentication, limits, slow consumers and the
end of a session."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from uvicorn.protocols.utils import ClientDisconnected
from websockets.typing import Subprotocol

from app.store.sessions import SessionStore
from app.web.http import create_app
from app.web.live_server import ServerThread
from app.web.serving import server_options
from tests.graphql_ws import MEMORY_ADDED, PROTOCOL, Socket, StalledSocket, socket_to
from tests.support.client import SECRET, running_app, token_for
from tests.support.stores import make_settings

BUFFER = 8
CAP = 3
ADMIN = token_for(ttl=timedelta(hours=1))
URL = "ws://localhost/graphql"
unique = itertools.count()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    settings = make_settings(
        auth_secret=SECRET, subscription_buffer=BUFFER, max_subscriptions_per_connection=CAP
    )
    with ServerThread(create_app(settings), **server_options(settings)) as running:
        yield running


ADD_SESSION = """
mutation($s: String!, $u: String) {
  addSession(input: {sessionId: $s, userId: $u}) { session { id } }
}
"""


EXP_AS_TEXT = jwt.encode({"role": "admin", "exp": "4102444800"}, SECRET, algorithm="HS256")
"""Signed with the secret, its `exp` a numeric string: PyJWT accepts it; memql must not."""


def new_session() -> str:
    return f"live-{next(unique)}"


@asynccontextmanager
async def http(server: ServerThread, token: str = ADMIN) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


async def graphql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def add(client: httpx.AsyncClient, session_id: str, contents: list[str]) -> None:
    await graphql(
        client,
        "mutation($s: String!, $m: [MemoryInput!]!) {"
        " addMemory(input: {sessionId: $s, memories: $m}) { memories { id } } }",
        s=session_id,
        m=[{"role": "human", "content": content} for content in contents],
    )


async def add_users(client: httpx.AsyncClient, *user_ids: str) -> None:
    for user_id in user_ids:
        await graphql(
            client,
            "mutation($u: String!) { addUser(input: {userId: $u}) { user { id } } }",
            u=user_id,
        )


async def stored(client: httpx.AsyncClient, session_id: str) -> list[tuple[str, str]]:
    """(cursor, content) of every memory of the session, in order."""
    found: list[tuple[str, str]] = []
    after = None
    while True:
        data = await graphql(
            client,
            "query($s: String!, $after: String) { session(sessionId: $s) {"
            " memories(first: 100, after: $after) { edges { cursor node { content } }"
            " pageInfo { hasNextPage endCursor } } } }",
            s=session_id,
            after=after,
        )
        page = data["session"]["memories"]
        found += [(edge["cursor"], edge["node"]["content"]) for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


@asynccontextmanager
async def subscriber(server: ServerThread, token: str = ADMIN) -> AsyncIterator[Socket]:
    async with socket_to(server.url) as ws:
        assert await ws.init(token) == {"type": "connection_ack"}
        yield ws


async def follow_running(ws: Socket, client: httpx.AsyncClient, id: str, session_id: str) -> None:
    """Subscribe from the newest stored memory and wait until the subscription runs: the
    server starts it in a task of its own, after the `subscribe` message is read."""
    cursor = (await stored(client, session_id))[-1][0]
    await ws.follow(id, session_id, after=cursor)
    await add(client, session_id, [f"probe {id}"])
    assert await ws.contents(id, 1) == [f"probe {id}"]


async def test_memories_arrive_in_order_with_the_cursors_of_session_memories(
    server: ServerThread,
) -> None:
    session_id = new_session()
    async with http(server) as client, subscriber(server) as ws:
        await add(client, session_id, ["before"])
        await ws.follow("1", session_id, after=(await stored(client, session_id))[0][0])
        await add(client, session_id, ["a", "b", "c"])
        await add(client, session_id, ["d"])
        events = [await ws.receive() for _ in range(4)]
        edges = [event["payload"]["data"]["memoryAdded"] for event in events]
        assert [edge["node"]["content"] for edge in edges] == ["a", "b", "c", "d"]
        assert [(edge["cursor"], edge["node"]["content"]) for edge in edges] == (
            await stored(client, session_id)
        )[1:]


async def test_without_after_only_memories_added_from_now_on_arrive(
    server: ServerThread,
) -> None:
    session_id = new_session()
    async with http(server) as client, subscriber(server) as ws:
        await add(client, session_id, ["old 1", "old 2"])
        await ws.follow("1", session_id)
        # The server starts the subscription in a task of its own: probe until it runs.
        for index in itertools.count():
            await add(client, session_id, [f"probe {index}"])
            try:
                async with asyncio.timeout(0.2):
                    first = await ws.contents("1", 1)
                break
            except TimeoutError:
                continue
        [probe] = first
        assert probe.startswith("probe")
        await add(client, session_id, ["next"])
        last = int(probe.split()[1])
        assert await ws.contents("1", index - last + 1) == [
            *(f"probe {later}" for later in range(last + 1, index + 1)),
            "next",
        ]


async def test_after_replays_the_stored_memories_after_the_cursor_then_the_new_ones(
    server: ServerThread,
) -> None:
    session_id = new_session()
    async with http(server) as client, subscriber(server) as ws:
        await add(client, session_id, [f"m{index}" for index in range(250)])
        cursor = (await stored(client, session_id))[9][0]
        await ws.follow("1", session_id, after=cursor)
        assert await ws.contents("1", 240) == [f"m{index}" for index in range(10, 250)]
        await add(client, session_id, ["new"])
        assert await ws.contents("1", 1) == ["new"]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    initial=st.integers(0, 12),
    start=st.integers(0, 12),
    batches=st.lists(st.integers(1, 4), min_size=1, max_size=8),
    writers=st.integers(1, 3),
    head_start=st.sampled_from([0.0, 0.001, 0.005, 0.02]),
)
def test_memories_added_while_subscribing_arrive_once_each_in_order(
    server: ServerThread,
    initial: int,
    start: int,
    batches: list[int],
    writers: int,
    head_start: float,
) -> None:
    """Writers add memories concurrently while the subscription starts from a cursor: every
    memory after the cursor arrives exactly once, in `seq` order, whatever the interleaving."""

    async def scenario() -> None:
        session_id = new_session()
        async with http(server) as client, subscriber(server) as ws:
            await add(client, session_id, ["seed"] + [f"i{index}" for index in range(initial)])
            cursor = (await stored(client, session_id))[min(start, initial)][0]
            names = iter(range(1000))
            queues = [batches[index::writers] for index in range(writers)]

            async def write(sizes: list[int]) -> None:
                for size in sizes:
                    await add(client, session_id, [f"w{next(names)}" for _ in range(size)])

            writing = asyncio.gather(*(write(sizes) for sizes in queues))
            await asyncio.sleep(head_start)
            follow = Following(ws, session_id)
            await follow.start(cursor)
            await writing
            everything = await stored(client, session_id)
            expected = [content for _, content in everything[min(start, initial) + 1 :]]
            assert await follow.contents(len(expected)) == expected
            # Nothing else is on its way: the next event is the next memory.
            await add(client, session_id, ["marker"])
            assert await follow.contents(1) == ["marker"]

    asyncio.run(scenario())


class Following:
    """A subscription followed as a client should: ended as too slow (this server's buffer is
    BUFFER memories), it subscribes again with the cursor the error gives."""

    def __init__(self, ws: Socket, session_id: str) -> None:
        self.ws = ws
        self.session_id = session_id
        self.ids = (f"follow-{index}" for index in itertools.count())
        self.id = ""

    async def start(self, after: str) -> None:
        self.id = next(self.ids)
        await self.ws.follow(self.id, self.session_id, after=after)

    async def contents(self, count: int) -> list[str]:
        found: list[str] = []
        while len(found) < count:
            message = await self.ws.receive()
            assert (message["id"], message["type"]) == (self.id, "next"), message
            payload = message["payload"]
            if payload["data"] is None:
                [error] = payload["errors"]
                assert error["extensions"]["code"] == "SUBSCRIBER_TOO_SLOW", error
                assert await self.ws.receive() == {"id": self.id, "type": "complete"}
                await self.start(error["extensions"]["resumeAfter"])
                continue
            found.append(payload["data"]["memoryAdded"]["node"]["content"])
        return found


async def test_refusals_are_graphql_errors_and_the_socket_stays_open(
    server: ServerThread,
) -> None:
    mine, others = new_session(), new_session()
    async with http(server) as client:
        await add_users(client, "alice", "bob")
        await graphql(
            client,
            ADD_SESSION,
            s=mine,
            u="alice",
        )
        await graphql(
            client,
            ADD_SESSION,
            s=others,
            u="bob",
        )
        session_cursor = (await graphql(client, "{ sessions(first: 1) { edges { cursor } } }"))[
            "sessions"
        ]["edges"][0]["cursor"]
        async with subscriber(server) as admin:
            await admin.follow("unknown", "no-such-session")
            assert await code_of(admin, "unknown") == "NOT_FOUND"
        async with subscriber(server, token_for("alice")) as alice:
            await alice.follow("theirs", others)
            assert await code_of(alice, "theirs") == "FORBIDDEN"
            await alice.follow("malformed", mine, after="not a cursor")
            assert await code_of(alice, "malformed") == "BAD_USER_INPUT"
            await alice.follow("wrong kind", mine, after=session_cursor)
            assert await code_of(alice, "wrong kind") == "BAD_USER_INPUT"
            await add(client, others, ["a", "b", "c"])
            await alice.follow("other session's", mine, after=(await stored(client, others))[-1][0])
            assert await code_of(alice, "other session's") == "BAD_USER_INPUT"
            await add(client, mine, ["first"])
            await follow_running(alice, client, "ok", mine)


async def code_of(ws: Socket, id: str) -> str:
    """The code of the error that ends operation `id`: in an `error` message when refused
    before it ran, or in a `next` message's errors (and then a `complete`)."""
    message = await ws.receive()
    assert message["id"] == id, message
    if message["type"] == "next":
        assert message["payload"]["data"] is None
        errors = message["payload"]["errors"]
        assert await ws.receive() == {"id": id, "type": "complete"}
    else:
        assert message["type"] == "error", message
        errors = message["payload"]
    codes: set[str] = {error["extensions"]["code"] for error in errors}
    assert len(codes) == 1, errors
    return codes.pop()


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {token_for(ttl=timedelta(seconds=-5))}"},
        {"Authorization": ADMIN.upper()},
        {"Authorization": f"Bearer {EXP_AS_TEXT}"},
        "Bearer token",
    ],
    ids=["none", "malformed", "expired", "no-scheme", "exp-as-text", "not-an-object"],
)
async def test_a_bad_token_closes_the_socket_with_4403(
    server: ServerThread, payload: object
) -> None:
    async with socket_to(server.url) as ws:
        await ws.send({"type": "connection_init", "payload": payload})
        code, _ = await ws.closed()
        assert code in ((4403,) if isinstance(payload, dict) else (4400,))


async def test_the_socket_closes_when_the_token_expires(server: ServerThread) -> None:
    session_id = new_session()
    async with http(server) as client:
        await add(client, session_id, ["x"])
    async with subscriber(server, token_for(ttl=timedelta(seconds=2))) as ws:
        await ws.follow("1", session_id)
        loop = asyncio.get_running_loop()
        started = loop.time()
        code, reason = await ws.closed()
        assert (code, reason) == (4403, "the token has expired")
        assert loop.time() - started < 5


async def test_the_legacy_graphql_ws_subprotocol_is_refused(server: ServerThread) -> None:
    async with socket_to(server.url, subprotocols=[Subprotocol("graphql-ws")]) as ws:
        assert ws.connection.subprotocol is None
        code, reason = await ws.closed()
        assert (code, reason) == (4406, "Subprotocol not acceptable")


async def test_a_connection_runs_at_most_the_configured_subscriptions(
    server: ServerThread,
) -> None:
    session_id = new_session()
    async with http(server) as client, subscriber(server) as ws:
        await add(client, session_id, ["x"])
        cursor = (await stored(client, session_id))[0][0]
        for index in range(CAP):
            await ws.follow(str(index), session_id, after=cursor)
        await ws.follow("over", session_id)
        message = await ws.receive()
        assert (message["id"], message["type"]) == ("over", "error")
        assert message["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "MEMQL_MAX_SUBSCRIPTIONS_PER_CONNECTION" in message["payload"][0]["message"]
        await ws.send({"id": "0", "type": "complete"})
        await ws.follow("again", session_id, after=cursor)
        await add(client, session_id, ["y"])
        received = {
            (m["id"], m["payload"]["data"]["memoryAdded"]["node"]["content"])
            for m in [await ws.receive() for _ in range(CAP)]
        }
        assert received == {("1", "y"), ("2", "y"), ("again", "y")}


async def test_deleting_the_session_completes_its_subscriptions(server: ServerThread) -> None:
    deleted, other_user_s, kept = new_session(), new_session(), new_session()
    async with http(server) as client:
        await add_users(client, "carol", "dave")
        for session_id in (deleted, other_user_s, kept):
            await graphql(
                client,
                ADD_SESSION,
                s=session_id,
                u="carol",
            )
            await add(client, session_id, ["first"])
        async with subscriber(server, token_for("carol")) as ws:
            await follow_running(ws, client, "deleted", deleted)
            await follow_running(ws, client, "given", other_user_s)
            await follow_running(ws, client, "kept", kept)
            await graphql(
                client,
                "mutation($s: String!) { deleteSession(sessionId: $s) { deletedId } }",
                s=deleted,
            )
            assert await ws.receive() == {"id": "deleted", "type": "complete"}
            # An admin gives the session to another user: carol may no longer see it.
            await graphql(
                client,
                "mutation($s: String!, $u: String!) {"
                " updateSession(input: {sessionId: $s, userId: $u}) { session { id } } }",
                s=other_user_s,
                u="dave",
            )
            assert await ws.receive() == {"id": "given", "type": "complete"}
            await add(client, kept, ["still here"])
            assert await ws.contents("kept", 1) == ["still here"]
            await graphql(client, 'mutation { deleteUser(userId: "carol") { deletedId } }')
            assert await ws.receive() == {"id": "kept", "type": "complete"}
            # A deleted user's token is refused for anything more, as over HTTP.
            await ws.follow("after deletion", kept)
            assert await ws.closed() == (4403, "the token's user was deleted")


async def test_a_slow_consumer_is_ended_with_a_cursor_to_resume_from_and_blocks_no_one(
    server: ServerThread,
) -> None:
    """A subscriber that stops reading its socket: the server's writes to it stall, its buffer
    (BUFFER memories) overflows and it is ended; a fast subscriber of the same session gets
    every memory meanwhile; resubscribing with the cursor it was given loses nothing."""
    session_id = new_session()
    contents = [f"{index:03d}" + "x" * 200_000 for index in range(30)]
    async with http(server) as client:
        await add(client, session_id, ["seed"])
        assert server.port is not None
        slow = await asyncio.to_thread(StalledSocket, server.port)
        try:
            slow.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {ADMIN}"}})
            assert await asyncio.to_thread(slow.receive) == {"type": "connection_ack"}
            cursor = (await stored(client, session_id))[-1][0]
            slow.send(
                {
                    "id": "slow",
                    "type": "subscribe",
                    "payload": {
                        "query": MEMORY_ADDED,
                        "variables": {"sessionId": session_id, "after": cursor},
                    },
                }
            )
            await add(client, session_id, ["probe"])
            probe = await asyncio.to_thread(slow.receive)
            assert probe["payload"]["data"]["memoryAdded"]["node"]["content"] == "probe"
            async with subscriber(server) as fast:
                await fast.follow(
                    "fast", session_id, after=(await stored(client, session_id))[-1][0]
                )
                for content in contents:
                    await add(client, session_id, [content])
                assert await fast.contents("fast", len(contents)) == contents
            received: list[str] = []
            while True:
                message = await asyncio.to_thread(slow.receive)
                if message["type"] != "next" or "errors" in message["payload"]:
                    break
                received.append(message["payload"]["data"]["memoryAdded"]["node"]["content"])
            [error] = message["payload"]["errors"]
            assert error["extensions"]["code"] == "SUBSCRIBER_TOO_SLOW"
            resume_after = error["extensions"]["resumeAfter"]
            assert resume_after in error["message"]
            assert len(received) < len(contents)
            assert await asyncio.to_thread(slow.receive) == {"id": "slow", "type": "complete"}
        finally:
            slow.close()
        async with subscriber(server) as again:
            await again.follow("resumed", session_id, after=resume_after)
            assert received + await again.contents("resumed", len(contents) - len(received)) == (
                contents
            )


async def test_a_message_over_the_body_limit_closes_the_socket_with_1009(
    server: ServerThread,
) -> None:
    async with subscriber(server) as ws:
        await ws.subscribe("big", "{ __typename }" + " " * (1024 * 1024))
        code, _ = await ws.closed()
        assert code == 1009


@pytest.mark.parametrize(
    ("selection", "code"),
    [
        (
            "node { session { memories(first: 100) { edges { node { session {"
            " memories(first: 100) { edges { node { content } } } } } } } } }",
            "QUERY_TOO_COMPLEX",
        ),
        (
            "node { session { user { sessions { edges { node { user { sessions { edges {"
            " node { id } } } } } } } } } }",
            "QUERY_TOO_COMPLEX",
        ),
        (" ".join(f"a{index}: cursor" for index in range(16)), "QUERY_TOO_COMPLEX"),
        ("nope", "BAD_USER_INPUT"),
    ],
    ids=["nodes", "depth", "aliases", "invalid"],
)
async def test_subscription_documents_get_the_query_limits(
    server: ServerThread, selection: str, code: str
) -> None:
    async with subscriber(server) as ws:
        await ws.subscribe(
            "1", f'subscription {{ memoryAdded(sessionId: "any") {{ {selection} }} }}'
        )
        assert await code_of(ws, "1") == code


async def test_queries_run_over_the_socket_too_choosing_by_operation_name(
    server: ServerThread,
) -> None:
    async with subscriber(server) as ws:
        document = "query A { __typename } " + MEMORY_ADDED
        await ws.subscribe("q", document, operation_name="A")
        assert await ws.receive() == {
            "id": "q",
            "type": "next",
            "payload": {"data": {"__typename": "Query"}},
        }
        assert await ws.receive() == {"id": "q", "type": "complete"}
        await ws.subscribe("none", document)
        assert await code_of(ws, "none") == "BAD_USER_INPUT"


@pytest.fixture
def app_client() -> Iterator[TestClient]:
    """The app without a server in front (Starlette's TestClient): the app's own checks, not
    uvicorn's, answer."""
    settings = make_settings(max_body_bytes=8192, cors_origins="https://chat.example.com")
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


def test_the_app_itself_refuses_non_objects_and_json_too_deep_to_read(
    app_client: TestClient,
) -> None:
    """Size is uvicorn's to refuse (`ws_max_size`; the 1009 test above, on a live server)."""
    for message, code in [
        ("[1, 2]", 4400),
        ("[" * 100_000 + "]" * 100_000, 4400),
        ("not json", 4400),
        ('{"type": "connection_init", "payload": {"n": ' + "1" * 5000 + "}}", 4400),
    ]:
        with app_client.websocket_connect(URL, subprotocols=[PROTOCOL]) as ws:
            ws.send_text(message)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == code, message


@pytest.mark.parametrize(
    "subscribe",
    [
        {"id": 1, "type": "subscribe", "payload": {"query": "{ __typename }"}},
        {"id": "1", "type": "subscribe", "payload": "{ __typename }"},
        {"id": "1", "type": "subscribe", "payload": {"query": ["{ __typename }"]}},
        {"id": "1", "type": "subscribe", "payload": {"query": "{ a }", "variables": [1]}},
    ],
)
def test_a_malformed_subscribe_message_closes_the_socket_with_4400(
    app_client: TestClient, subscribe: dict[str, Any]
) -> None:
    with app_client.websocket_connect(URL, subprotocols=[PROTOCOL]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json() == {"type": "connection_ack"}
        ws.send_json(subscribe)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 4400


def test_an_unexpected_error_is_answered_with_the_request_id_only(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash(self: object, session_id: str) -> int:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(SessionStore, "last_seq", crash)
    with app_client.websocket_connect(URL, subprotocols=[PROTOCOL]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json() == {"type": "connection_ack"}
        ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": MEMORY_ADDED, "variables": {"sessionId": "s"}},
            }
        )
        message = ws.receive_json()
    [error] = message["payload"]
    assert "secret" not in str(message)
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert (
        error["message"]
        == f"Internal server error (request id {error['extensions']['requestId']})."
    )


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),
        ("http://localhost", True),
        ("https://chat.example.com", True),
        ("https://evil.example", False),
        ("null", False),
    ],
)
def test_pages_on_other_origins_connect_only_when_cors_allows_them(
    app_client: TestClient, origin: str | None, allowed: bool
) -> None:
    headers = {"origin": origin} if origin else {}
    if allowed:
        with app_client.websocket_connect(URL, subprotocols=[PROTOCOL], headers=headers) as ws:
            ws.send_json({"type": "connection_init"})
            assert ws.receive_json() == {"type": "connection_ack"}
    else:
        # Closed before it is accepted: uvicorn answers the handshake with 403.
        with (
            pytest.raises(WebSocketDisconnect) as denied,
            app_client.websocket_connect(URL, subprotocols=[PROTOCOL], headers=headers),
        ):
            pass
        assert denied.value.code == 1008


async def test_a_slow_reader_gets_nothing_more_of_a_session_given_to_another_user(
    server: ServerThread,
) -> None:
    """A replay the reader is slow to take (a tiny receive buffer it reads only when told, so
    the server's writes wait), the session given to another user meanwhile, and that user's
    memory added: each event passes the access rule when it is sent, so the reader gets none
    of the new owner's, nothing more of the replay, and then `complete`."""
    session_id = new_session()
    padding = "x" * 20_000
    stored_contents = [f"{b}.{i} {padding}" for b in range(10) for i in range(40)]
    async with http(server) as client:
        await add_users(client, "erin", "frank")
        await graphql(client, ADD_SESSION, s=session_id, u="erin")
        for start in range(0, len(stored_contents), 40):
            await add(client, session_id, stored_contents[start : start + 40])
        cursor = (await stored(client, session_id))[0][0]
        assert server.port is not None
        slow = await asyncio.to_thread(StalledSocket, server.port)
        try:
            init = {"Authorization": f"Bearer {token_for('erin')}"}
            slow.send({"type": "connection_init", "payload": init})
            assert await asyncio.to_thread(slow.receive) == {"type": "connection_ack"}
            variables = {"sessionId": session_id, "after": cursor}
            slow.send(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": MEMORY_ADDED, "variables": variables},
                }
            )
            first = await asyncio.to_thread(slow.receive)
            assert first["payload"]["data"]["memoryAdded"]["node"]["content"] == stored_contents[1]
            await asyncio.sleep(0.5)  # the server's writes to the reader wait
            await graphql(
                client,
                "mutation($s: String!) {"
                ' updateSession(input: {sessionId: $s, userId: "frank"}) { session { id } } }',
                s=session_id,
            )
            async with http(server, token_for("frank")) as as_frank:
                await add(as_frank, session_id, ["frank's secret"])
            received: list[str] = []
            while True:
                message = await asyncio.to_thread(slow.receive)
                if message["type"] == "complete":
                    break
                assert message["type"] == "next", message
                assert message["payload"].get("errors") is None, message
                received.append(message["payload"]["data"]["memoryAdded"]["node"]["content"])
        finally:
            slow.close()
    assert "frank's secret" not in received
    # What was sent before the hand-off, in order, and not the rest of the replay.
    assert received == stored_contents[2 : 2 + len(received)]
    assert len(received) < len(stored_contents) - 2


@pytest.mark.parametrize(
    "message",
    [
        {"type": "subscribe", "payload": {"query": "subscription { x }"}},
        {"type": "subscribe", "id": 7, "payload": {"query": "subscription { x }"}},
        {"type": "subscribe", "id": "1", "payload": {"query": 7}},
        {"type": "subscribe", "id": "1", "payload": {"query": "{ x }", "variables": [1]}},
    ],
    ids=["no-id", "number-id", "number-query", "list-variables"],
)
@pytest.mark.parametrize("initialised", [False, True], ids=["before-init", "after-init"])
async def test_a_malformed_subscribe_closes_with_4400_in_a_frame_that_holds_its_reason(
    server: ServerThread,
    caplog: pytest.LogCaptureFixture,
    message: dict[str, Any],
    initialised: bool,
) -> None:
    caplog.set_level(logging.INFO)
    async with socket_to(server.url) as ws:
        if initialised:
            assert await ws.init(ADMIN) == {"type": "connection_ack"}
        await ws.send(message)
        code, reason = await ws.closed()
    assert code == 4400
    assert reason and len(reason.encode()) <= 123
    assert not [record for record in caplog.records if record.exc_info], caplog.text


async def test_several_subscriptions_without_operation_name_are_refused_as_over_http(
    server: ServerThread,
) -> None:
    document = (
        'subscription A { memoryAdded(sessionId: "s") { node { content } } }'
        ' subscription B { memoryAdded(sessionId: "t") { node { content } } }'
    )
    async with subscriber(server) as ws:
        await ws.subscribe("1", document)
        refused = await ws.receive()
        assert refused["type"] == "error" and refused["id"] == "1", refused
        [error] = refused["payload"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "operationName"}
        async with http(server) as client:
            over_http = await client.post("/graphql", json={"query": document})
        assert over_http.json()["errors"][0]["message"] == error["message"]


@pytest.mark.parametrize(
    "repeats",
    [3000, 60],
    ids=["over-the-token-limit", "over-the-overlapping-field-pairs"],  # the fuzzer's find
)
async def test_a_subscription_over_a_query_limit_is_query_too_complex(
    server: ServerThread, caplog: pytest.LogCaptureFixture, repeats: int
) -> None:
    caplog.set_level(logging.INFO)
    fields = "content " * repeats
    document = f'subscription {{ memoryAdded(sessionId: "s") {{ node {{ {fields} }} }} }}'
    async with subscriber(server) as ws:
        await ws.subscribe("1", document)
        refused = await ws.receive()
    assert refused["type"] == "error", refused
    assert refused["payload"][0]["extensions"] == {"code": "QUERY_TOO_COMPLEX"}
    assert not [record for record in caplog.records if record.exc_info], caplog.text


async def test_a_client_that_leaves_while_its_subscription_sends_is_one_info_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The socket goes while an operation's task sends `next`, before the handler has read the
    disconnect: uvicorn raises ClientDisconnected from `send`, as it does for a client gone
    mid-response. Driven over ASGI so that order is certain; Strawberry logged it as an ERROR
    with a traceback."""
    caplog.set_level(logging.INFO)
    session_id = new_session()
    left = asyncio.Event()
    sent: list[MutableMapping[str, Any]] = []
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for message in (
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": json.dumps({"type": "connection_init"})},
        {
            "type": "websocket.receive",
            "text": json.dumps(
                {
                    "type": "subscribe",
                    "id": "1",
                    "payload": {"query": MEMORY_ADDED, "variables": {"sessionId": session_id}},
                }
            ),
        },
    ):
        inbox.put_nowait(message)

    async def receive() -> dict[str, Any]:
        if inbox.empty():
            await left.wait()
            await asyncio.sleep(0.2)  # the operation's task handles its failed send first
            return {"type": "websocket.disconnect", "code": 1006}
        return await inbox.get()

    async def send(message: MutableMapping[str, Any]) -> None:
        if left.is_set():
            raise ClientDisconnected()
        sent.append(message)
        if json.loads(message.get("text") or "{}").get("type") == "next":
            left.set()
            raise ClientDisconnected()

    async with running_app() as api:
        await api.data(ADD_SESSION, {"s": session_id})
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"localhost"), (b"sec-websocket-protocol", PROTOCOL.encode())],
            "subprotocols": [PROTOCOL],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        socket = asyncio.create_task(api.app(scope, receive, send))
        for _ in range(100):  # until the subscription is running
            if any("connection_ack" in str(message.get("text")) for message in sent):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        await api.data(
            "mutation($s: String!) { addMemory(input: {sessionId: $s,"
            ' memories: [{role: "user", content: "hi"}]}) { memories { id } } }',
            {"s": session_id},
        )
        async with asyncio.timeout(10):
            await socket
    assert left.is_set(), sent
    assert not [record for record in caplog.records if record.exc_info], caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    [line] = [record for record in caplog.records if "the client left" in record.getMessage()]
    assert line.levelno == logging.INFO and "WebSocketDisconnected" in line.getMessage()
