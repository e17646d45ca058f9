"""A lean HTTP/1.1 keep-alive client over asyncio streams, so that the client's own cost (on the
same two cores as the server) stays small and equal for every route measured."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from bench.server import CALLS_HEADER


class HttpError(Exception):
    """The server answered something other than 200 with a JSON body."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Accept: application/json"]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        payload = await self.reader.readexactly(length)
        return Response(int(status_line.split()[1]), headers, payload)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@dataclass(frozen=True, slots=True)
class Call:
    """One request of a benchmark case: the same each time, or made anew by `make`."""

    method: str
    path: str
    body: bytes | None = None


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)
    """Seconds per request."""
    calls: list[int] = field(default_factory=list)
    """Database calls per request, from the server's header."""
    elapsed: float = 0.0

    def add(self, other: Samples) -> None:
        self.latencies += other.latencies
        self.calls += other.calls
        self.elapsed += other.elapsed


async def drive(
    port: int,
    calls: list[Call],
    *,
    concurrency: int,
    duration: float,
    max_requests: int = 1_000_000,
) -> Samples:
    """`concurrency` clients, each on its own connection, send the calls in turn (client i
    starting at call i) until `duration` seconds have passed; every answer must be a 200."""
    samples = Samples()
    deadline = time.perf_counter() + duration
    budget = [max_requests]

    async def client(index: int) -> None:
        connection = await Connection.open(port)
        try:
            turn = index
            while time.perf_counter() < deadline and budget[0] > 0:
                budget[0] -= 1
                call = calls[turn % len(calls)]
                turn += 1
                started = time.perf_counter()
                response = await connection.request(call.method, call.path, call.body)
                samples.latencies.append(time.perf_counter() - started)
                if response.status != 200:
                    raise HttpError(f"{call.path} answered {response.status}: {response.body!r}")
                samples.calls.append(int(response.headers[CALLS_HEADER]))
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(index) for index in range(concurrency)))
    samples.elapsed = time.perf_counter() - started
    return samples


async def lockstep(
    routes: list[tuple[int, list[Call]]], *, concurrency: int, duration: float, first: int = 0
) -> list[Samples]:
    """Per-request alternation: `concurrency` clients each send one request to a route at once,
    and once all have answered they do the same to the next route, in turn from route `first`,
    in whole cycles until `duration` seconds have passed. Noise from other work on the machine
    then falls on every route alike, request by request. Each route's samples: a latency per
    step, the time until all of its requests were answered, as a client of `concurrency` busy
    ones waits about that long for each answer (single latencies would not do: a server that
    runs one request to its end answers the first of two sent together after T and the second
    after 2T, so their median flips between the two, while one that interleaves them answers
    both after about 2T); their `elapsed` is the time that route's steps took, so requests per
    second are while it was driven."""
    measured = [Samples() for _ in routes]
    ports = sorted({port for port, _ in routes})
    clients = [{port: await Connection.open(port) for port in ports} for _ in range(concurrency)]
    turns = [0] * len(routes)
    order = [(first + step) % len(routes) for step in range(len(routes))]

    async def one(connection: Connection, call: Call, samples: Samples) -> float:
        started = time.perf_counter()
        response = await connection.request(call.method, call.path, call.body)
        latency = time.perf_counter() - started
        if response.status != 200:
            raise HttpError(f"{call.path} answered {response.status}: {response.body!r}")
        samples.calls.append(int(response.headers[CALLS_HEADER]))
        return latency

    try:
        deadline = time.perf_counter() + duration
        while time.perf_counter() < deadline:
            for index in order:
                port, calls = routes[index]
                samples = measured[index]
                started = time.perf_counter()
                latencies = await asyncio.gather(
                    *(
                        one(connections[port], calls[(turns[index] + client) % len(calls)], samples)
                        for client, connections in enumerate(clients)
                    )
                )
                samples.latencies.append(max(latencies))
                turns[index] += concurrency
                samples.elapsed += time.perf_counter() - started
    finally:
        for connections in clients:
            for connection in connections.values():
                await connection.close()
    return measured


async def fetch(port: int, call: Call) -> Response:
    connection = await Connection.open(port)
    try:
        response = await connection.request(call.method, call.path, call.body)
    finally:
        await connection.close()
    if response.status != 200:
        raise HttpError(f"{call.path} answered {response.status}: {response.body!r}")
    return response
