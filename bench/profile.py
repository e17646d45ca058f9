"""`python -m bench.profile CASE`: where one case's time goes, as pyinstrument's call tree
in-process, or (`--by-package`) as py-spy's samples of the real server summed by package."""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
from pyinstrument import Profiler
from starlette.applications import Starlette

from bench.cases import Case, cases
from bench.client import Call, drive
from bench.run import bench_server
from bench.seed import Sizes
from bench.server import CountCalls, bench_app

DEFAULT = Sizes()

# The first of these found walking a sampled stack from its innermost frame names the sample.
PACKAGES = (
    ("embedded store (mongomock, mongomock-motor)", ("mongomock",)),
    ("memql store: decoding, splitting by parent", ("app/store/", "app/documents.py", "bson/")),
    ("memql resolvers: objects, ids, cursors, loaders", ("schema/",)),
    ("GraphQL execution (graphql-core, Strawberry)", ("graphql/", "strawberry/")),
    ("REST floor route", ("bench/floor.py",)),
    ("JSON encoding", ("json/",)),
    ("HTTP: uvicorn, h11, Starlette, middleware", ("uvicorn/", "h11/", "starlette/", "app/")),
)


def find_case(name: str, sizes: Sizes) -> Case:
    (case,) = [case for case in cases(sizes) if name in case.name]
    return case


async def call_tree(case: Case, sizes: Sizes, requests: int, *, floor: bool, flat: bool) -> str:
    calls = case.floor if floor else case.graphql
    app = bench_app(sizes)
    assert isinstance(app, CountCalls) and isinstance(app.app, Starlette)
    async with app.app.router.lifespan_context(app.app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:

            async def send(turn: int) -> None:
                call = calls[turn % len(calls)]
                response = await client.request(
                    call.method,
                    call.path,
                    content=call.body,
                    headers={"content-type": "application/json"},
                )
                response.raise_for_status()

            for turn in range(10):
                await send(turn)
            # CPU samples of the event loop's thread, not time spent awaiting: the requests run
            # one after another, so the samples are this case's own work.
            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
            for turn in range(requests):
                await send(turn)
            profiler.stop()
    return profiler.output_text(unicode=False, color=False, flat=flat)


def by_package(samples: Path) -> dict[str, int]:
    """py-spy's raw output (one `frame;frame;... count` line per stack) summed by package."""
    totals: collections.Counter[str] = collections.Counter()
    for line in samples.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if "select (selectors.py" in frames[-1]:
            continue  # the event loop waiting for the next request
        name = next(
            (
                name
                for frame in reversed(frames)
                for name, markers in PACKAGES
                if any(marker in frame for marker in markers)
            ),
            "other",
        )
        totals[name] += int(count)
    return dict(totals.most_common())


async def sampled(case: Case, sizes: Sizes, seconds: float, *, floor: bool) -> str:
    """One client drives the case over HTTP while py-spy samples the server from outside the
    process (adding nothing to the code it measures); the samples summed by PACKAGES."""
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--by-package needs py-spy: pip install py-spy")
    calls: list[Call] = case.floor if floor else case.graphql
    with tempfile.TemporaryDirectory() as folder, bench_server(sizes, 300) as server:
        assert server.process is not None
        port, pid = server.port, server.process.pid
        await drive(port, calls, concurrency=1, duration=1)
        output = Path(folder) / "samples.txt"
        command = [spy, "record", "--pid", str(pid), "--rate", "500", "--format", "raw"]
        command += ["--duration", str(round(seconds)), "--nonblocking", "--output", str(output)]
        recorder = await asyncio.create_subprocess_exec(
            *command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        driven = await drive(port, calls, concurrency=1, duration=seconds + 1)
        await asyncio.wait_for(recorder.wait(), timeout=seconds + 60)
        totals = by_package(output)
    busy = sum(totals.values()) or 1
    lines = [
        f"{case.name} ({'REST floor' if floor else 'GraphQL'}): {len(driven.latencies)} requests,"
        f" {busy} samples of the server at 500 Hz while busy",
        "",
        "| share | where |",
        "|------:|-------|",
        *(f"| {count / busy:.0%} | {name} |" for name, count in totals.items()),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("case", help="part of a case's name, e.g. 'users' or 'memories(last'")
    parser.add_argument("--users", type=int, default=DEFAULT.users)
    parser.add_argument("--sessions", type=int, default=DEFAULT.sessions)
    parser.add_argument("--memories", type=int, default=DEFAULT.memories)
    parser.add_argument("--requests", type=int, default=50, help="requests profiled (50)")
    parser.add_argument("--floor", action="store_true", help="profile the REST floor's route")
    parser.add_argument("--flat", action="store_true", help="functions by own time, no tree")
    parser.add_argument(
        "--by-package", action="store_true", help="py-spy on the real server, summed by package"
    )
    parser.add_argument("--seconds", type=float, default=15, help="--by-package: seconds (15)")
    args = parser.parse_args()
    sizes = Sizes(args.users, args.sessions, args.memories)
    case = find_case(args.case, sizes)
    if args.by_package:
        print(asyncio.run(sampled(case, sizes, args.seconds, floor=args.floor)))
    else:
        print(asyncio.run(call_tree(case, sizes, args.requests, floor=args.floor, flat=args.flat)))


if __name__ == "__main__":
    main()
