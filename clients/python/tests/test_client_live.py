"""subscribe_memories: both clients follow a session over a real WebSocket to a live server, and
the async one keeps every memory exactly once while a proxy in between cuts its connections."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from typing import Any

import pytest
from app.auth import issue_token
from app.web.http import create_app
from app.web.live_server import ServerThread
from conftest import AUTH_SECRET, client_test_settings, serving
from graphql import build_schema, parse, validate
from test_client_contract import PRINTED_SCHEMA

from memql_client import (
    AsyncMemqlClient,
    MemoryInput,
    MemqlClient,
    NotFoundError,
    UnauthenticatedError,
    live,
)


class CuttingProxy:
    """Forwards a port of 127.0.0.1 to the server's; `cut` drops every connection open now,
    as a network that fails does (the server sees its connections reset)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            cut, self.open = self.open, []
            self.cuts += 1
        for end in cut:
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()


@contextmanager
def live_server(**settings: Any) -> Iterator[ServerThread]:
    with serving(create_app(client_test_settings(**settings))) as server:
        yield server


async def wait_for_subscribers(server: ServerThread, count: int) -> None:
    """Until the server runs `count` subscriptions: it starts each in a task of its own."""

    async def running() -> int:
        return len(server.app.state.store.broadcaster)  # type: ignore[attr-defined]

    for _ in range(500):
        if server.call(running()) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the server never ran {count} subscriptions")


async def test_memories_arrive_in_order_and_deleting_the_session_ends_the_iterator() -> None:
    with live_server() as server:
        async with AsyncMemqlClient(f"{server.url}/graphql") as client:
            await client.add_memory("chat", [MemoryInput("human", "before")])
            received: list[str] = []

            async def follow() -> None:
                async for memory in client.subscribe_memories("chat"):
                    received.append(memory.content)

            following = asyncio.create_task(follow())
            await wait_for_subscribers(server, 1)
            await client.add_memory("chat", [MemoryInput("human", "a"), MemoryInput("ai", "b")])
            await client.add_memory("chat", [MemoryInput("human", "c")])
            for _ in range(500):
                if len(received) == 3:
                    break
                await asyncio.sleep(0.01)
            await client.delete_session("chat")
            await asyncio.wait_for(following, 10)
    assert received == ["a", "b", "c"]


async def test_the_iterator_resumes_after_dropped_connections_losing_and_repeating_nothing() -> (
    None
):
    """The proxy cuts the subscriber's connection several times while memories are added; the
    consumer's list equals what is stored, in order."""
    with live_server() as server:
        proxy = CuttingProxy(server.port or 0)
        try:
            async with (
                AsyncMemqlClient(f"{server.url}/graphql") as writer,
                AsyncMemqlClient(f"{proxy.url}/graphql") as reader,
            ):
                [seed] = await writer.add_memory("chat", [MemoryInput("human", "seed")])
                start = (await writer.get_memories("chat", last=1)).page_info.end_cursor
                wanted = 40
                received: list[str] = []

                async def follow() -> None:
                    async for memory in reader.subscribe_memories("chat", after=start):
                        received.append(memory.content)
                        if len(received) == wanted:
                            return

                following = asyncio.create_task(follow())
                for index in range(wanted):
                    await writer.add_memory("chat", [MemoryInput("human", f"m{index}")])
                    if index % 8 == 3:
                        await asyncio.sleep(0.05)
                        proxy.cut()
                await asyncio.wait_for(following, 30)
                stored = [m.content async for m in writer.iter_memories("chat")]
        finally:
            proxy.close()
    assert proxy.cuts >= 4
    assert seed.content == stored[0]
    assert received == stored[1:]


def test_the_blocking_client_follows_and_resumes_too() -> None:
    with live_server() as server:
        proxy = CuttingProxy(server.port or 0)
        try:
            with (
                MemqlClient(f"{server.url}/graphql") as writer,
                MemqlClient(f"{proxy.url}/graphql") as reader,
            ):
                writer.add_memory("chat", [MemoryInput("human", "seed")])
                start = writer.get_memories("chat", last=1).page_info.end_cursor
                for index in range(6):
                    writer.add_memory("chat", [MemoryInput("human", f"m{index}")])
                received: list[str] = []
                for memory in reader.subscribe_memories("chat", after=start):
                    received.append(memory.content)
                    if len(received) == 3:
                        proxy.cut()
                    if len(received) == 6:
                        break
        finally:
            proxy.close()
    assert received == [f"m{index}" for index in range(6)]


async def test_refusals_raise_the_coded_errors() -> None:
    with live_server(auth_secret=AUTH_SECRET) as server:
        admin = issue_token(AUTH_SECRET, ttl=timedelta(minutes=5), admin=True)
        async with AsyncMemqlClient(f"{server.url}/graphql", token=admin) as client:
            [memory] = await client.add_memory("chat", [MemoryInput("human", "hi")])
            cursor = (await client.get_memories("chat")).edges[0].cursor
            with pytest.raises(NotFoundError):
                async for _ in client.subscribe_memories("nowhere", after=cursor):
                    pass
        async with AsyncMemqlClient(f"{server.url}/graphql", token="not-a-token") as stranger:
            with pytest.raises(UnauthenticatedError):
                async for _ in stranger.subscribe_memories("chat", after=cursor):
                    pass
    assert memory.content == "hi"


def message(**fields: Any) -> str:
    return json.dumps(fields)


def test_a_subscription_ended_as_too_slow_is_resumed_from_the_cursor_it_names() -> None:
    feed = live.MemoryFeed("chat", "cursor-0", token="t")
    first = json.loads(feed.subscribe())
    assert first["payload"]["variables"] == {"sessionId": "chat", "after": "cursor-0"}
    error = {
        "message": "fell behind",
        "extensions": {"code": "SUBSCRIBER_TOO_SLOW", "resumeAfter": "cursor-7"},
    }
    ended = message(id=first["id"], type="next", payload={"data": None, "errors": [error]})
    assert feed.read(ended) is live.Step.RESUBSCRIBE
    second = json.loads(feed.answer(live.Step.RESUBSCRIBE))
    assert second["id"] != first["id"]
    assert second["payload"]["variables"]["after"] == "cursor-7"
    # The first subscription's `complete` ends nothing.
    assert feed.read(message(id=first["id"], type="complete")) is live.Step.NOTHING
    assert feed.read(message(id=second["id"], type="complete")) is live.Step.DONE


def test_the_subscription_document_is_valid_against_the_printed_schema() -> None:
    schema = build_schema(PRINTED_SCHEMA.read_text(encoding="utf-8"))
    assert validate(schema, parse(live.MEMORY_ADDED)) == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000/graphql", "ws://127.0.0.1:8000/graphql"),
        ("https://memql.example.com/graphql", "wss://memql.example.com/graphql"),
    ],
)
def test_the_websocket_url_is_the_http_url_with_its_scheme(url: str, expected: str) -> None:
    assert live.ws_url(url) == expected
