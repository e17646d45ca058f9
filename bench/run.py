"""Runs the benchmark: a seeded server per data size, each case measured against the REST floor
in alternating rounds, and the tables printed."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bench.cases import Case, cases
from bench.client import Call, Samples, drive, fetch
from bench.report import Row, ScalingRow, main_table, scaling_table
from bench.seed import Sizes


@dataclass(frozen=True)
class Options:
    sizes: Sizes
    duration: float
    """Seconds of measurement for each route of each case."""
    concurrency: int
    scaling: tuple[int, ...]
    scaling_duration: float
    warmup: float
    rounds: int = 4
    startup_seconds: float = 300.0


SCALING_CASE = "session { memories(last: 50) }"


class ServerError(Exception):
    """The benchmark server did not start or answered wrongly; the message has its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def started_server(sizes: Sizes, log: IO[bytes]) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A seeded benchmark server process on 127.0.0.1 and its port; stopped on the way out."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.server",
            "--port",
            str(port),
            "--users",
            str(sizes.users),
            "--sessions",
            str(sizes.sessions),
            "--memories",
            str(sizes.memories),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        yield process, port
    finally:
        stop(process)


@contextlib.asynccontextmanager
async def server(sizes: Sizes, startup_seconds: float) -> AsyncIterator[int]:
    """The port of a seeded benchmark server that answers, for as long as the block runs."""
    with tempfile.TemporaryFile() as log, started_server(sizes, log) as (process, port):
        await wait_until_up(process, port, startup_seconds, log)
        yield port


def log_text(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-4000:]


async def wait_until_up(
    process: subprocess.Popen[bytes], port: int, startup_seconds: float, log: IO[bytes]
) -> None:
    # uvicorn listens only once the app's start-up (seeding included) is done.
    deadline = time.monotonic() + startup_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(
                f"the benchmark server exited with {process.returncode}:\n" + log_text(log)
            )
        with contextlib.suppress(OSError):
            await fetch(port, Call("GET", "/healthz"))
            return
        await asyncio.sleep(0.1)
    raise ServerError(
        f"the benchmark server did not answer in {startup_seconds:.0f} s:\n" + log_text(log)
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


async def check_same_data(port: int, case: Case) -> None:
    answers = [(await fetch(port, calls[0])).json() for calls in (case.graphql, case.floor)]
    if "errors" in answers[0] or not case.same_data(*answers):
        raise ServerError(
            f"{case.name}: GraphQL and the REST floor answered differently:\n"
            f"{str(answers[0])[:1500]}\n{str(answers[1])[:1500]}"
        )


async def measure(
    port: int, case: Case, options: Options, *, concurrency: int, duration: float
) -> tuple[Samples, Samples]:
    """GraphQL's and the floor's samples, in alternating rounds so that drift (other work on
    the machine, data that writes add) falls on both alike."""
    await check_same_data(port, case)
    for calls in (case.graphql, case.floor):
        await drive(port, calls, concurrency=concurrency, duration=options.warmup)
    measured = (Samples(), Samples())
    for _ in range(options.rounds):
        for calls, samples in zip((case.graphql, case.floor), measured, strict=True):
            samples.add(
                await drive(
                    port, calls, concurrency=concurrency, duration=duration / options.rounds
                )
            )
    return measured


async def run(options: Options) -> str:
    rows = []
    async with server(options.sizes, options.startup_seconds) as port:
        for case in cases(options.sizes):
            gql, floor = await measure(
                port,
                case,
                options,
                concurrency=options.concurrency,
                duration=options.duration,
            )
            rows.append(Row.of(case.name, gql, floor))
    scaling = []
    for memories in options.scaling:
        sizes = Sizes(options.sizes.users, options.sizes.sessions, memories)
        (latest,) = [case for case in cases(sizes) if case.name == SCALING_CASE]
        async with server(sizes, options.startup_seconds) as port:
            gql, floor = await measure(
                port, latest, options, concurrency=1, duration=options.scaling_duration
            )
            scaling.append(ScalingRow.of(memories, gql, floor))
    report = [
        f"memql benchmark: {options.sizes.users:,} users, {options.sizes.sessions:,} sessions,"
        f" {options.sizes.memories:,} memories on the embedded store;"
        f" {options.concurrency} concurrent clients, {options.duration:g} s per route",
        "",
        main_table(rows),
    ]
    if scaling:
        report += [
            "",
            f"Scaling: `{SCALING_CASE}` by memories stored (1 client,"
            f" {options.scaling_duration:g} s per route)",
            "",
            scaling_table(scaling),
        ]
    return "\n".join(report)
