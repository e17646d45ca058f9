"""The soak: one server under steady mixed load for minutes while its store grows: writers adding
memories, readers asking the nested query and a session's latest memories, and live subscribers
following sessions. Each case's latencies are cut into windows of `WINDOW_SECONDS`; a store
that slows as it grows shows as later windows slower than the first."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from websockets.asyncio.client import ClientConnection, connect

from bench import report
from bench.cases import NESTED, SESSION_MEMORIES, graphql
from bench.client import Connection, HttpError
from bench.live import FOLLOW, PROTOCOL, SUBSCRIPTIONS_PER_CONNECTION
from bench.report import percentile
from bench.seed import Sizes, session_id

if TYPE_CHECKING:
    from bench.run import Options

WINDOW_SECONDS = 30.0
START_MEMORIES = 8_000
WRITES_PER_SECOND = 25.0
"""`addMemory` calls a second, all writers together, at a steady pace (open loop): the load
stays the same while the store grows, so a window slower than the first is the store's doing,
not a queue's (writers as fast as they can would store more the faster the server is)."""
WRITERS = 4
READERS = 2
SUBSCRIBERS = 50
ADD = "mutation Add($input: AddMemoryInput!) { addMemory(input: $input) { memories { id } } }"
WRITE = "addMemory (5 memories)"
READ_NESTED = "users { sessions { user memories { session } } }"
READ_LATEST = "session { memories(last: 50) }"
LIVE = "live event after addMemory's response"
CASES = (WRITE, READ_NESTED, READ_LATEST, LIVE)


@dataclass
class Window:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    writes: int = 0


@dataclass(frozen=True)
class SoakResult:
    seconds: float
    start_memories: int
    windows: list[Window]
    end_memories: int
    lost_events: int
    """Events a subscriber never received for a memory written to the session it follows."""


async def measure(options: Options) -> SoakResult:
    sizes = Sizes(options.sizes.users, options.sizes.sessions, START_MEMORIES)
    with options.server(sizes) as server:
        return await _soak(server.port, sizes, options.soak_seconds)


async def _soak(port: int, sizes: Sizes, seconds: float) -> SoakResult:
    started = time.perf_counter()
    deadline = started + seconds
    windows = [Window() for _ in range(max(1, int(-(-seconds // WINDOW_SECONDS))))]

    def window(at: float) -> Window:
        return windows[min(len(windows) - 1, int((at - started) // WINDOW_SECONDS))]

    followed = [session_id(index) for index in range(min(SUBSCRIBERS, sizes.sessions))]
    written_to = followed + [
        session_id(index) for index in range(len(followed), min(2 * SUBSCRIBERS, sizes.sessions))
    ]
    answered: dict[str, float] = {}
    arrived: dict[str, float] = {}
    sockets = [
        await _subscribe(port, followed[start : start + SUBSCRIPTIONS_PER_CONNECTION])
        for start in range(0, len(followed), SUBSCRIPTIONS_PER_CONNECTION)
    ]
    written = itertools.count()
    stored = [sizes.memories]

    async def receive(ws: ClientConnection) -> None:
        async for text in ws:
            message = json.loads(text)
            if message.get("type") == "next":
                content = message["payload"]["data"]["memoryAdded"]["node"]["content"]
                arrived.setdefault(content, time.perf_counter())

    async def writer(number: int) -> None:
        chooser = random.Random(number)
        connection = await Connection.open(port)
        interval = WRITERS / WRITES_PER_SECOND
        due = started + number * interval / WRITERS
        try:
            while (due := due + interval) < deadline:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                target = chooser.choice(written_to)
                turn = next(written)
                memories = [
                    {"role": "human", "content": f"soak {turn} {index} " + "lorem ipsum " * 8}
                    for index in range(5)
                ]
                sent = time.perf_counter()
                await _post(connection, ADD, input={"sessionId": target, "memories": memories})
                done = time.perf_counter()
                window(sent).latencies[WRITE].append(done - sent)
                window(sent).writes += 1
                stored[0] += 5
                if target in followed:
                    answered[memories[0]["content"]] = done
        finally:
            await connection.close()

    async def reader(number: int) -> None:
        chooser = random.Random(100 + number)
        connection = await Connection.open(port)
        try:
            for turn in itertools.count():
                if time.perf_counter() >= deadline:
                    break
                if turn % 2:
                    name, call = READ_NESTED, graphql(NESTED)
                else:
                    target = session_id(chooser.randrange(sizes.sessions))
                    name, call = READ_LATEST, graphql(SESSION_MEMORIES, sessionId=target)
                sent = time.perf_counter()
                response = await connection.request(call.method, call.path, call.body)
                if response.status != 200 or "errors" in response.json():
                    raise HttpError(f"{name} answered {response.status}: {response.json()}")
                window(sent).latencies[name].append(time.perf_counter() - sent)
        finally:
            await connection.close()

    receiving = [asyncio.create_task(receive(ws)) for ws in sockets]
    try:
        await asyncio.gather(
            *(writer(number) for number in range(WRITERS)),
            *(reader(number) for number in range(READERS)),
        )
        await asyncio.sleep(2.0)  # the last events on their way
    finally:
        for task in receiving:
            task.cancel()
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
    for content, done in answered.items():
        if content in arrived:
            window(done).latencies[LIVE].append(arrived[content] - done)
    return SoakResult(
        seconds=seconds,
        start_memories=sizes.memories,
        windows=windows,
        end_memories=stored[0],
        lost_events=sum(1 for content in answered if content not in arrived),
    )


async def _subscribe(port: int, sessions: list[str]) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=[PROTOCOL])
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    if json.loads(await ws.recv()).get("type") != "connection_ack":
        raise HttpError("the server did not acknowledge the WebSocket connection")
    for index, session in enumerate(sessions):
        variables = {"sessionId": session, "after": None}
        payload = {"query": FOLLOW, "variables": variables}
        await ws.send(json.dumps({"id": str(index), "type": "subscribe", "payload": payload}))
    return ws


async def _post(connection: Connection, query: str, **variables: object) -> None:
    call = graphql(query, **variables)
    response = await connection.request(call.method, call.path, call.body)
    if response.status != 200 or "errors" in response.json():
        raise HttpError(f"addMemory answered {response.status}: {response.json()}")


def describe(result: SoakResult) -> str:
    return (
        f"Soak: {result.seconds:g} s of {WRITERS} writers (`addMemory` of 5 memories to one of"
        f" {2 * SUBSCRIBERS} sessions, {WRITES_PER_SECOND:g} calls a second in all, paced),"
        f" {READERS} readers (the nested query and a random"
        f" session's latest 50, in turn) and {SUBSCRIBERS} live subscribers, one client"
        f" connection each; the store grew from {result.start_memories:,} to"
        f" {result.end_memories:,} memories; {result.lost_events} events lost. Latencies in ms"
        f" per {WINDOW_SECONDS:g} s window; the last row is the last window's p99 over the"
        " first's"
    )


def table_of(result: SoakResult) -> list[list[str]]:
    rows = []
    for number, window in enumerate(result.windows):
        cells = [f"{number * WINDOW_SECONDS:g}-{(number + 1) * WINDOW_SECONDS:g} s"]
        cells.append(f"{window.writes / WINDOW_SECONDS:.1f}")
        for case in CASES:
            found = window.latencies.get(case, [])
            cells.append(
                f"{percentile(found, 0.5):.1f} / {percentile(found, 0.99):.1f}" if found else "-"
            )
        rows.append(cells)
    first, last = result.windows[0], result.windows[-1]
    ratios = ["last p99 / first p99", ""]
    for case in CASES:
        before, after = first.latencies.get(case), last.latencies.get(case)
        ratios.append(
            f"{percentile(after, 0.99) / percentile(before, 0.99):.2f}x"
            if before and after
            else "-"
        )
    return [*rows, ratios]


def table(result: SoakResult) -> str:
    return report.table(
        ["window", "writes/s", *(f"`{case}` p50 / p99" for case in CASES)], table_of(result)
    )
