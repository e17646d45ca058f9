"""Faults on the MongoDB path, injected on the wire server with `failCommand` (each scoped to the
app's own connections by its appName) or by restarting a server of the test's own: cut deletes,
failed inserts, an interrupted change stream, a restart under load, and two processes sharing
one database."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pymongo
import pytest

from app.settings import Settings
from app.web.live_server import ServerProcess
from tests.graphql_ws import socket_to
from tests.support.client import GraphQLClient, running_app
from tests.support.data import add_memories, add_user, raw_documents
from tests.support.stores import TEST_MONGODB_URL, make_settings, requires_mongodb
from tests.wire_server import ROOT, WireServer

pytestmark = requires_mongodb

NOT_WRITABLE_PRIMARY = 10107
T = TypeVar("T")


def with_app_name(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}appname={name}"


@contextmanager
def fail_point(url: str, app_name: str, times: int, **data: Any) -> Iterator[None]:
    """`failCommand` for the next `times` matching commands of connections named `app_name`,
    switched off after the block."""
    admin: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(url)
    try:
        admin.admin.command(
            "configureFailPoint",
            "failCommand",
            mode={"times": times},
            data={"appName": app_name, **data},
        )
        yield
    finally:
        admin.admin.command("configureFailPoint", "failCommand", mode="off")
        admin.close()


@asynccontextmanager
async def faulty_app(**settings: Any) -> AsyncIterator[tuple[GraphQLClient, str]]:
    """An app on the wire server whose connections carry an appName of their own."""
    assert TEST_MONGODB_URL is not None
    name = f"memql-fault-{uuid.uuid4().hex[:8]}"
    async with running_app(
        make_settings(mongodb_url=with_app_name(TEST_MONGODB_URL, name), **settings)
    ) as api:
        yield api, name


FAULTS = [
    pytest.param({"closeConnection": True}, id="network-error"),
    pytest.param({"errorCode": NOT_WRITABLE_PRIMARY}, id="not-writable-primary"),
]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("mutation", ["deleteSession", "deleteUser"])
async def test_a_delete_cut_at_its_cascade_is_finished_by_its_retry_and_purged(
    fault: dict[str, Any], mutation: str
) -> None:
    assert TEST_MONGODB_URL is not None
    async with faulty_app() as (api, name):
        await add_user(api, "u")
        for session in ("s1", "s2"):
            await api.data(
                'mutation($s: String!) { addSession(input: {sessionId: $s, userId: "u"}) '
                "{ session { id } } }",
                {"s": session},
            )
            await add_memories(api, session, ["a", "b", "c"])
        delete = (
            'mutation { deleteSession(sessionId: "s1") { deletedId } }'
            if mutation == "deleteSession"
            else 'mutation { deleteUser(userId: "u") { deletedId } }'
        )
        # The cascade's update_many (not a retryable write) is the first `update` it sends.
        with fail_point(TEST_MONGODB_URL, name, 1, failCommands=["update"], **fault):
            error = await api.error(delete)
        assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE", error
        assert "send the request again" in error["message"]
        assert (await api.data(delete))[mutation]["deletedId"]
        gone = {"sessionId": "s1"} if mutation == "deleteSession" else {}
        memories = await raw_documents(api, "memories", **gone)
        assert len(memories) in (3, 6) and all(doc.get("deletedAt") for doc in memories)
        sessions = await raw_documents(api, "sessions", **gone)
        assert sessions and all(doc.get("deletedAt") for doc in sessions)
        purged = await api.data("mutation { purgeDeleted { memories sessions } }")
        assert purged["purgeDeleted"]["memories"] == len(memories)
        assert await raw_documents(api, "memories", **gone) == []
        assert await raw_documents(api, "sessions", **gone) == []


async def seqs_and_contents(api: GraphQLClient, session_id: str) -> list[tuple[int, str]]:
    stored = await raw_documents(api, "memories", sessionId=session_id)
    return sorted((doc["seq"], doc["content"]) for doc in stored)


@pytest.mark.parametrize("fault", FAULTS)
async def test_an_insert_failing_past_the_drivers_retry_is_retried_without_loss_or_gap(
    fault: dict[str, Any],
) -> None:
    assert TEST_MONGODB_URL is not None
    async with faulty_app() as (api, name):
        await add_memories(api, "s", ["one"])
        # pymongo retries an insert once; memql tries again past that.
        with fail_point(TEST_MONGODB_URL, name, 2, failCommands=["insert"], **fault):
            added = await add_memories(api, "s", ["two", "three"])
        assert [memory["content"] for memory in added] == ["two", "three"]
        await add_memories(api, "s", ["four"])
        assert await seqs_and_contents(api, "s") == [
            (1, "one"),
            (2, "two"),
            (3, "three"),
            (4, "four"),
        ]


@pytest.mark.parametrize("fault", FAULTS)
async def test_an_insert_that_keeps_failing_answers_retry_and_leaves_no_gap_in_seq(
    fault: dict[str, Any],
) -> None:
    assert TEST_MONGODB_URL is not None
    async with faulty_app() as (api, name):
        await add_memories(api, "s", ["one"])
        with fail_point(TEST_MONGODB_URL, name, 100, failCommands=["insert"], **fault):
            error = await api.error(
                'mutation { addMemory(input: {sessionId: "s", memories: '
                '[{role: "h", content: "lost"}]}) { memories { id } } }'
            )
        assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE", error
        await add_memories(api, "s", ["two"])
        assert await seqs_and_contents(api, "s") == [(1, "one"), (2, "two")]
        session = (await raw_documents(api, "sessions", sessionId="s"))[0]
        assert session["memorySeq"] == 2 and "writer" not in session


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"closeConnection": True}, id="closed-connection"),
        # HostUnreachable: resumable, and unlike a "not primary" code it does not make the
        # driver look for a new primary.
        pytest.param({"errorCode": 6}, id="getMore-failure"),
    ],
)
async def test_an_interrupted_change_stream_resumes_from_its_token_losing_nothing(
    fault: dict[str, Any],
) -> None:
    assert TEST_MONGODB_URL is not None
    async with faulty_app() as (api, name):
        store = api.app.state.store
        subscription = store.broadcaster.subscribe("s")
        received: list[int] = []

        async def until(count: int) -> None:
            async with asyncio.timeout(30):
                while len(received) < count:
                    received.extend(memory.seq for memory in await subscription.take())

        await add_memories(api, "s", ["1", "2"])
        await until(2)
        with fail_point(TEST_MONGODB_URL, name, 2, failCommands=["getMore"], **fault):
            for content in ("3", "4", "5"):
                await add_memories(api, "s", [content])
            await until(5)
        await add_memories(api, "s", ["6"])
        await until(6)
        assert received == [1, 2, 3, 4, 5, 6]
        assert not subscription.stale and not subscription.fell_behind
        subscription.close()


async def test_a_database_restarted_under_load_is_reconnected_and_readyz_follows(
    tmp_path: Path,
) -> None:
    with WireServer.running(tmp_path / "db") as server:
        settings = make_settings(mongodb_url=server.url, mongodb_timeout_ms=500)
        async with running_app(settings) as api:
            acknowledged: list[str] = []
            failed = 0
            stop = asyncio.Event()

            async def write() -> None:
                nonlocal failed
                for index in range(10_000):
                    if stop.is_set():
                        return
                    body = await api.post(
                        'mutation($c: String!) { addMemory(input: {sessionId: "load", '
                        'memories: [{role: "h", content: $c}]}) { memories { id } } }',
                        {"c": str(index)},
                    )
                    if "errors" in body:
                        failed += 1
                        assert body["errors"][0]["extensions"]["code"] in {
                            "DATABASE_UNAVAILABLE",
                            "SESSION_BUSY",
                        }, body
                        await asyncio.sleep(0.05)
                    else:
                        acknowledged.append(str(index))

            async def readyz() -> int:
                return (await api.http.get("/readyz")).status_code

            writer = asyncio.create_task(write())
            await asyncio.sleep(0.5)
            assert await readyz() == 200
            await asyncio.to_thread(server.stop)
            assert await eventually(lambda: readyz(), 503, seconds=10)

            async def refused() -> bool:
                return failed > 0

            # Down until a write has been answered with a retryable error, however long the
            # driver waits for a server (a quick restart could otherwise go unseen).
            assert await eventually(refused, True, seconds=20)
            await asyncio.to_thread(server.start)
            assert await eventually(lambda: readyz(), 200, seconds=30)
            written_before = len(acknowledged)

            async def written() -> bool:
                return len(acknowledged) >= written_before + 5

            assert await eventually(written, True, seconds=30)
            stop.set()
            await writer
            assert failed > 0
            stored = await raw_documents(api, "memories", sessionId="load")
            contents = [doc["content"] for doc in sorted(stored, key=lambda doc: doc["seq"])]
            # Every acknowledged memory is stored once; none is stored twice.
            assert len(contents) == len(set(contents))
            assert set(acknowledged) <= set(contents)


async def eventually(check: Callable[[], Awaitable[T]], wanted: T, *, seconds: float) -> bool:
    """Whether `check()` answers `wanted` within `seconds`, asked every 0.1 s."""
    for _ in range(int(seconds * 10)):
        if await check() == wanted:
            return True
        await asyncio.sleep(0.1)
    return False


def serve(settings: Settings) -> ServerProcess:
    assert settings.mongodb_url is not None
    return ServerProcess(
        [sys.executable, "-m", "app", "serve"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "MEMQL_MONGODB_URL": settings.mongodb_url,
            "MEMQL_DATABASE": settings.database,
            "MEMQL_DATA_DIR": "",
        },
    )


async def test_two_processes_on_one_database_share_writes_and_live_updates() -> None:
    settings = make_settings()
    query = (
        'mutation($c: [MemoryInput!]!) { addMemory(input: {sessionId: "shared", memories: $c})'
        " { memories { id } } }"
    )
    try:
        with serve(settings) as one, serve(settings) as other:
            async with (
                httpx.AsyncClient(base_url=one.url, timeout=30) as to_one,
                httpx.AsyncClient(base_url=other.url, timeout=30) as to_other,
                socket_to(one.url) as ws,
            ):
                assert await ws.init() == {"type": "connection_ack"}
                await to_other.post(
                    "/graphql",
                    json={"query": query, "variables": {"c": [{"role": "h", "content": "0"}]}},
                )
                await ws.follow("1", "shared", after=None)

                async def add(client: httpx.AsyncClient, prefix: str) -> None:
                    for index in range(15):
                        memories = [
                            {"role": "h", "content": f"{prefix}{index}.{part}"} for part in "ab"
                        ]
                        answer = await client.post(
                            "/graphql", json={"query": query, "variables": {"c": memories}}
                        )
                        assert "errors" not in answer.json(), answer.json()

                await asyncio.sleep(0.5)  # the subscription runs before the writes
                await asyncio.gather(add(to_one, "x"), add(to_other, "y"))
                async with asyncio.timeout(30):
                    live = await ws.contents("1", 60)
        async with running_app(settings) as api:
            stored = await raw_documents(api, "memories", sessionId="shared")
            ordered = [doc["content"] for doc in sorted(stored, key=lambda doc: doc["seq"])]
            assert sorted(doc["seq"] for doc in stored) == list(range(1, 62))
            assert live == ordered[1:]
            for prefix in "xy":
                mine = [content for content in ordered if content.startswith(prefix)]
                assert mine == [f"{prefix}{index}.{part}" for index in range(15) for part in "ab"]
            # Each call's two memories are together: no other call's between them.
            for position, content in enumerate(ordered[1:], start=1):
                if content.endswith(".a"):
                    assert ordered[position + 1] == content[:-1] + "b"
    finally:
        async with running_app(settings):
            pass  # dropped after
