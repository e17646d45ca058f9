"""Runs the benchmark: a seeded server per data size, each case measured against the REST floor
in alternating rounds, and the tables printed."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from app.web.live_server import ServerProcess
from bench.cases import Case, cases
from bench.client import Samples, drive, fetch
from bench.report import Row, ScalingRow, main_table, scaling_table, snapshot_table
from bench.seed import Sizes
from bench.snapshots import measure_sizes


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
    snapshots: tuple[int, ...] = ()
    """Memories stored for each row of the snapshot table."""


SCALING_CASE = "session { memories(last: 50) }"


class ServerError(Exception):
    """The benchmark server answered wrongly; the message has both answers."""


ROOT = Path(__file__).resolve().parent.parent


def bench_server(sizes: Sizes, startup_seconds: float) -> ServerProcess:
    """`python -m bench.server`, seeded with `sizes`, through the live-server harness; it
    answers once seeding is done (uvicorn listens only after the app's start-up)."""
    return ServerProcess(
        [
            sys.executable,
            "-m",
            "bench.server",
            "--users",
            str(sizes.users),
            "--sessions",
            str(sizes.sessions),
            "--memories",
            str(sizes.memories),
        ],
        cwd=ROOT,
        start_seconds=startup_seconds,
    )


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
    with bench_server(options.sizes, options.startup_seconds) as server:
        for case in cases(options.sizes):
            gql, floor = await measure(
                server.port,
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
        with bench_server(sizes, options.startup_seconds) as server:
            gql, floor = await measure(
                server.port, latest, options, concurrency=1, duration=options.scaling_duration
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
    if options.snapshots:
        snapshot_rows = await measure_sizes(options.sizes, options.snapshots)
        report += [
            "",
            "Snapshots of the embedded store (MEMQL_DATA_DIR): one snapshot of everything, and"
            " restoring it at start-up",
            "",
            snapshot_table(snapshot_rows),
        ]
    return "\n".join(report)
