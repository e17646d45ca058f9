"""Runs the benchmark: a seeded server per data size (and one of another git ref, to compare),
each case measured against the REST floor in short alternating rounds, and the tables printed."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.mongodb_url import check_mongodb_url
from app.web.live_server import ServerProcess
from bench import live, soak
from bench.cases import Case, cases
from bench.client import Call, HttpError, Samples, drive, fetch, lockstep
from bench.report import (
    ComparedRow,
    Row,
    ScalingRow,
    Started,
    compared_table,
    live_table,
    main_table,
    scaling_table,
    snapshot_table,
)
from bench.seed import HOT_MEMORIES, Sizes
from bench.snapshots import SnapshotRow, measure_sizes


@dataclass(frozen=True)
class Options:
    sizes: Sizes
    rounds: int
    """Alternating rounds per case: each ratio is the median of the rounds' ratios."""
    block: float
    """Seconds each route is driven in one round, alternating with the others request by
    request, so that noise from other work on the machine falls on all routes alike."""
    concurrencies: tuple[int, ...]
    scaling: tuple[int, ...]
    warmup: float
    live_samples: int = 200
    """addMemory calls whose event a subscriber times."""
    idle_subscriptions: int = 1000
    snapshots: tuple[int, ...] = ()
    """Memories stored for each row of the snapshot table."""
    compare: str | None = None
    """A git ref of this repository whose server is measured in the same run."""
    startup_seconds: float = 300.0
    soak_seconds: float = 0.0
    """How long the soak runs (bench/soak.py); 0: not at all."""
    mongodb_url: str | None = None
    """MongoDB to run on (each server seeds a database of its own and drops it), instead of the
    embedded store."""

    def server(self, sizes: Sizes, root: Path | None = None) -> ServerProcess:
        return bench_server(sizes, self.startup_seconds, root or ROOT, self.mongodb_url)

    @property
    def store(self) -> str:
        if self.mongodb_url is None:
            return "the embedded store"
        return f"MongoDB ({check_mongodb_url(self.mongodb_url)})"


SCALING_CASES = (
    "session { memories(last: 50) }",
    "users { sessions { user memories { session } } }",
    "sessions(first: 50)",
    "searchMemories(userId)",
    "searchMemories(sessionId)",
)
ROOT = Path(__file__).resolve().parent.parent


class ServerError(Exception):
    """The benchmark server answered wrongly; the message has both answers."""


def bench_server(
    sizes: Sizes, startup_seconds: float, root: Path = ROOT, mongodb_url: str | None = None
) -> ServerProcess:
    """`python -m bench.server` of the checkout at `root`, seeded with `sizes`, through the
    live-server harness; it answers once seeding is done (uvicorn listens only after the app's
    start-up). Run from `root`, its `app` and `schema` are that checkout's. With `mongodb_url`
    it runs on a database of its own there, dropped when it stops."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEMQL_")}
    if mongodb_url is not None:
        env |= {
            "MEMQL_MONGODB_URL": mongodb_url,
            "MEMQL_DATABASE": f"memql_bench_{uuid.uuid4().hex[:12]}",
        }
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
        cwd=root,
        env=env,
        start_seconds=startup_seconds,
    )


@contextlib.contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """A detached worktree of `ref` in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="memql-bench-") as folder:
        path = Path(folder) / "checkout"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--quiet", "--detach", str(path), ref],
            check=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=True
            )


async def check_same_data(port: int, case: Case) -> None:
    answers = [(await fetch(port, calls[0])).json() for calls in (case.graphql, case.floor)]
    if "errors" in answers[0] or not case.same_data(*answers):
        raise ServerError(
            f"{case.name}: GraphQL and the REST floor answered differently:\n"
            f"{str(answers[0])[:1500]}\n{str(answers[1])[:1500]}"
        )


async def answers(port: int, case: Case) -> bool:
    """Whether the `--compare` checkout's server answers `case` at all: a case newer than that
    checkout (its floor route missing) is measured without it."""
    try:
        await check_same_data(port, case)
    except HttpError as error:
        if " answered 404:" not in str(error):
            raise
        return False
    return True


Route = tuple[int, list[Call]]
"""A server's port and the calls sent to it."""


async def rounds(routes: list[Route], options: Options, *, concurrency: int) -> list[list[Samples]]:
    """Each route's samples, a Samples per round. A round alternates the routes request by
    request (`lockstep`: all clients on one route at once, then all on the next) for
    `options.block` seconds per route, starting with a different route each round, so that
    drift (other work on the machine, data that writes add) falls on all alike."""
    for port, calls in routes:
        await drive(port, calls, concurrency=concurrency, duration=options.warmup)
    measured: list[list[Samples]] = [[] for _ in routes]
    for turn in range(options.rounds):
        samples = await lockstep(
            routes,
            concurrency=concurrency,
            duration=options.block * len(routes),
            first=turn % len(routes),
        )
        for index, route_samples in enumerate(samples):
            measured[index].append(route_samples)
    return measured


async def run(options: Options) -> str:
    with contextlib.ExitStack() as stack:
        other = None if options.compare is None else stack.enter_context(checkout(options.compare))
        if other is None:
            rows, live_result = await main_rows(options)
            compared: list[ComparedRow] = []
        else:
            rows, compared, live_result = await compared_rows(options, other)
        scaling = [
            row
            for memories in options.scaling
            for row in await scaling_rows(options, memories, other)
        ]
        soaked = await soak.measure(options) if options.soak_seconds else None
    snapshot_rows = (
        await measure_sizes(options.sizes, options.snapshots) if options.snapshots else []
    )
    return report(options, rows, compared, live_result, scaling, snapshot_rows, soaked)


def scaling_sizes(sizes: Sizes, memories: int) -> Sizes:
    """A row's data: one session per PER_SESSION memories and one user per PER_SESSION
    sessions (at most --sessions and --users), so that the users the nested query lists have
    PER_SESSION sessions of at least about PER_SESSION memories each, and each read case
    answers the same data at every row: only what is stored grows."""
    sessions = max(1, min(sizes.sessions, memories // PER_SESSION))
    users = max(1, min(sizes.users, sessions // PER_SESSION))
    return Sizes(users, sessions, memories)


PER_SESSION = 10
"""The nested query lists 10 sessions of each user and the last 10 memories of each session."""


async def scaling_rows(options: Options, memories: int, other: Path | None) -> list[ScalingRow]:
    """The read cases at `memories` stored, one client, beside the floor (and beside the
    `--compare` checkout's server, seeded alike, in the same rounds); each server's start-up
    (seeding included) and resident memory."""
    sizes = scaling_sizes(options.sizes, memories)
    reads = [case for case in cases(sizes) if case.name in SCALING_CASES]
    with contextlib.ExitStack() as servers:
        started = time.perf_counter()
        server = servers.enter_context(options.server(sizes))
        seconds = time.perf_counter() - started
        reference, reference_seconds = None, None
        if other is not None:
            started = time.perf_counter()
            reference = servers.enter_context(options.server(sizes, other))
            reference_seconds = time.perf_counter() - started
        rows = []
        for case in reads:
            await check_same_data(server.port, case)
            routes = [(server.port, case.graphql), (server.port, case.floor)]
            if reference is not None and await answers(reference.port, case):
                routes.append((reference.port, case.graphql))
            measured = await rounds(routes, options, concurrency=1)
            rows.append(
                ScalingRow.of(
                    memories,
                    case.name,
                    *measured,
                    started=Started(seconds, _rss(server)),
                    reference_started=(
                        None
                        if reference is None or reference_seconds is None
                        else Started(reference_seconds, _rss(reference))
                    ),
                )
            )
        return rows


def _rss(server: ServerProcess) -> int:
    assert server.process is not None
    return live.rss_bytes(server.process.pid)


async def live_updates(server: ServerProcess, options: Options) -> live.LiveResult:
    assert server.process is not None
    return await live.measure(
        server.port,
        server.process.pid,
        samples=options.live_samples,
        idle=options.idle_subscriptions,
    )


async def main_rows(options: Options) -> tuple[list[Row], live.LiveResult]:
    rows = []
    with bench_server(
        options.sizes, options.startup_seconds, mongodb_url=options.mongodb_url
    ) as server:
        for case in cases(options.sizes):
            await check_same_data(server.port, case)
            for concurrency in options.concurrencies:
                graphql, floor = await rounds(
                    [(server.port, case.graphql), (server.port, case.floor)],
                    options,
                    concurrency=concurrency,
                )
                rows.append(Row.of(case.name, concurrency, graphql, floor))
        return rows, await live_updates(server, options)


async def compared_rows(
    options: Options, other: Path
) -> tuple[list[Row], list[ComparedRow], live.LiveResult]:
    """This checkout's server and `other`'s, seeded alike, each case's four routes (GraphQL
    and floor of each) in the same alternating rounds."""
    rows, compared = [], []
    with (
        bench_server(
            options.sizes, options.startup_seconds, mongodb_url=options.mongodb_url
        ) as server,
        options.server(options.sizes, other) as reference,
    ):
        for case in cases(options.sizes):
            await check_same_data(server.port, case)
            known = await answers(reference.port, case)
            for concurrency in options.concurrencies:
                routes = [(server.port, case.graphql), (server.port, case.floor)]
                if known:
                    routes += [(reference.port, case.graphql), (reference.port, case.floor)]
                measured = await rounds(routes, options, concurrency=concurrency)
                rows.append(Row.of(case.name, concurrency, measured[0], measured[1]))
                if known:
                    compared.append(ComparedRow.of(case.name, concurrency, *measured))
        return rows, compared, await live_updates(server, options)


def report(
    options: Options,
    rows: list[Row],
    compared: list[ComparedRow],
    live_result: live.LiveResult,
    scaling: list[ScalingRow],
    snapshot_rows: list[SnapshotRow],
    soaked: soak.SoakResult | None = None,
) -> str:
    sizes = options.sizes
    hot = min(HOT_MEMORIES, sizes.memories)
    lines = [
        f"memql benchmark: {sizes.users:,} users, {sizes.sessions:,} sessions,"
        f" {sizes.memories:,} memories on {options.store} (the session of"
        f" `session {{ memories }}` holds {hot:,} of them); each ratio is the median of"
        f" {options.rounds} rounds of {options.block:g} s per route, the routes alternating request"
        " by request, [min-max]; with more clients, all send to one route at once and a latency"
        " is the time until all are answered",
        "",
        main_table(rows),
    ]
    lines += [
        "",
        f"Live updates: `memoryAdded` over a WebSocket; {options.live_samples} `addMemory` calls"
        f" timed from their response to the subscriber's event; then"
        f" {options.idle_subscriptions:,} idle subscriptions (20 a connection), their cost in"
        " the server's resident memory and the time one memory takes to reach them all",
        "",
        live_table(live_result),
    ]
    if compared:
        lines += [
            "",
            f"Against `{options.compare}`, measured in the same rounds: GraphQL's p50 of this"
            " checkout over the other's, and each one's p50 / floor (a case the other cannot"
            " answer, newer than it, is left out)",
            "",
            compared_table(compared),
        ]
    if scaling:
        lines += [
            "",
            f"Scaling: the read cases by memories stored (a session per {PER_SESSION} memories"
            f" and a user per {PER_SESSION} sessions, at most {sizes.sessions:,} and"
            f" {sizes.users:,}, so that each case answers the same data at every size; 1"
            f" client; the session of `session {{ memories }}` holds {HOT_MEMORIES} of them, or"
            " all when fewer); start-up is the server's, seeding"
            " included, and memory its resident set once seeded, per memory stored"
            + (
                f"; beside `{options.compare}`, seeded alike, in the same rounds"
                if options.compare
                else ""
            ),
            "",
            scaling_table(scaling),
        ]
    if soaked is not None:
        lines += ["", soak.describe(soaked), "", soak.table(soaked)]
    if snapshot_rows:
        lines += [
            "",
            "Snapshots of the embedded store (MEMQL_DATA_DIR): one snapshot of everything, and"
            " restoring it at start-up",
            "",
            snapshot_table(snapshot_rows),
        ]
    return "\n".join(lines)
