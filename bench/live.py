"""The live-updates case: how long after `addMemory`'s response a subscriber has the memory, and
what idle subscriptions cost the server (memory per subscription, measured in its RSS)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from bench.cases import graphql
from bench.client import Connection, HttpError
from bench.seed import HOT_SESSION

PROTOCOL = Subprotocol("graphql-transport-ws")
FOLLOW = """
subscription Follow($sessionId: String!, $after: String) {
  memoryAdded(sessionId: $sessionId, after: $after) { cursor node { content } }
}
"""
ADD = """
mutation Add($input: AddMemoryInput!) { addMemory(input: $input) { memories { id } } }
"""
NEWEST = """
query Newest($sessionId: String!) {
  session(sessionId: $sessionId) { memories(last: 1) { pageInfo { endCursor } } }
}
"""
SUBSCRIPTIONS_PER_CONNECTION = 20
"""MEMQL_MAX_SUBSCRIPTIONS_PER_CONNECTION's default: as many as one connection may run."""


@dataclass(frozen=True)
class LiveResult:
    latencies: list[float]
    """Seconds from each `addMemory` response to the subscriber having its memory (negative:
    the event came first, as the server publishes before it answers)."""
    idle: int
    """Idle subscriptions opened."""
    bytes_per_subscription: float
    fan_out: float
    """Seconds from one memory's `addMemory` response to the last of the idle subscribers
    having it."""


async def _post(connection: Connection, query: str, **variables: object) -> dict[str, object]:
    call = graphql(query, **variables)
    response = await connection.request(call.method, call.path, call.body)
    body = response.json()
    if response.status != 200 or "errors" in body:
        raise HttpError(f"{query.split('(')[0].strip()} answered {response.status}: {body}")
    data: dict[str, object] = body["data"]
    return data


async def _subscriber(port: int) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=[PROTOCOL])
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    if json.loads(await ws.recv()).get("type") != "connection_ack":
        raise HttpError("the server did not acknowledge the WebSocket connection")
    return ws


async def _newest_cursor(connection: Connection) -> str:
    data = await _post(connection, NEWEST, sessionId=HOT_SESSION)
    session = data["session"]
    assert isinstance(session, dict)
    cursor: str = session["memories"]["pageInfo"]["endCursor"]
    return cursor


def _follow(id: str, after: str) -> str:
    return json.dumps(
        {
            "id": id,
            "type": "subscribe",
            "payload": {"query": FOLLOW, "variables": {"sessionId": HOT_SESSION, "after": after}},
        }
    )


async def _add(connection: Connection, content: str) -> float:
    """Add one memory to the hot session; the time its response was read."""
    memories = [{"role": "human", "content": content}]
    await _post(connection, ADD, input={"sessionId": HOT_SESSION, "memories": memories})
    return time.perf_counter()


async def latencies(port: int, samples: int) -> list[float]:
    """One subscriber, memories added one at a time: each event's arrival less the time its
    `addMemory` response was read."""
    connection = await Connection.open(port)
    ws = await _subscriber(port)
    arrived: dict[str, float] = {}
    event = asyncio.Event()
    try:
        await ws.send(_follow("latency", await _newest_cursor(connection)))

        async def receive() -> None:
            async for text in ws:
                message = json.loads(text)
                if message.get("type") == "next":
                    content = message["payload"]["data"]["memoryAdded"]["node"]["content"]
                    arrived[content] = time.perf_counter()
                    event.set()

        receiving = asyncio.create_task(receive())
        answered: dict[str, float] = {}
        for index in range(samples):
            content = f"latency {index}"
            answered[content] = await _add(connection, content)
            while content not in arrived:
                event.clear()
                await event.wait()
        receiving.cancel()
        return [arrived[content] - answered[content] for content in answered]
    finally:
        await ws.close()
        await connection.close()


def rss_bytes(pid: int) -> int:
    """The resident set size of a process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def idle_cost(port: int, pid: int, count: int) -> tuple[float, float]:
    """Bytes of server memory per idle subscription (its connection's share included), and the
    seconds until one new memory reached all of them."""
    connection = await Connection.open(port)
    sockets: list[tuple[ClientConnection, int]] = []
    try:
        after = await _newest_cursor(connection)
        before = rss_bytes(pid)
        ids = itertools.count()
        for start in range(0, count, SUBSCRIPTIONS_PER_CONNECTION):
            ws = await _subscriber(port)
            subscriptions = min(SUBSCRIPTIONS_PER_CONNECTION, count - start)
            sockets.append((ws, subscriptions))
            for _ in range(subscriptions):
                await ws.send(_follow(str(next(ids)), after))
        # Subscribed after the newest memory, each subscription sends the one added now: once
        # all have, all run. (A new connection: the first may have idled past its keep-alive.)
        await connection.close()
        connection = await Connection.open(port)
        answered = await _add(connection, "fan-out")
        await asyncio.gather(*(_events(ws, subscriptions) for ws, subscriptions in sockets))
        fan_out = time.perf_counter() - answered
        return (rss_bytes(pid) - before) / count, fan_out
    finally:
        for ws, _ in sockets:
            await ws.close()
        await connection.close()


async def _events(ws: ClientConnection, count: int) -> None:
    received = 0
    while received < count:
        if json.loads(await ws.recv()).get("type") == "next":
            received += 1


async def measure(port: int, pid: int, *, samples: int, idle: int) -> LiveResult:
    measured = await latencies(port, samples)
    per_subscription, fan_out = await idle_cost(port, pid, idle)
    return LiveResult(measured, idle, per_subscription, fan_out)
