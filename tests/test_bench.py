"""The benchmark cannot rot: `python -m bench --quick` runs on tiny data and prints its tables
(cases, live updates, scaling, snapshots; and a comparison with another git ref) with a number
in every cell (the numbers themselves are bench/README.md's business)."""

from __future__ import annotations

import asyncio
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from bench.client import Call, lockstep
from bench.report import (
    COMPARED_HEADER,
    LIVE_HEADER,
    MAIN_HEADER,
    SCALING_HEADER,
    SNAPSHOT_HEADER,
)
from bench.run import SCALING_CASES
from bench.server import CALLS_HEADER

ROOT = Path(__file__).resolve().parent.parent
CASES = [
    "`sessions(first: 50)`",
    "`session { memories(last: 50) }`",
    "`users { sessions { user memories { session } } }`",
    "`searchMemories(userId)`",
    "`searchMemories(sessionId)`",
    "`addMemory (5 memories)`",
]
NUMBER = re.compile(r"^[\d,]+(\.\d+)?x?( \[[\d.]+-[\d.]+\])?$")


def tables(output: str) -> list[list[list[str]]]:
    """The Markdown tables of the output, as rows of cells, header rows included."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*output.splitlines(), ""]:
        if line.startswith("|"):
            if not set(line) <= set("|-: "):
                current.append([cell.strip() for cell in line.strip("|").split("|")])
        elif current:
            found.append(current)
            current = []
    return found


def quick_bench(*extra: str) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--users=2",
            "--sessions=4",
            "--memories=40",
            "--rounds=5",
            "--block=0.05",
            "--warmup=0.05",
            "--live-samples=20",
            "--idle-subscriptions=100",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def assert_numbers(rows: list[list[str]], first_number: int) -> None:
    for row in rows:
        assert all(NUMBER.match(cell) for cell in row[first_number:]), row


@pytest.mark.slow
def test_quick_benchmark_prints_both_tables_with_numbers() -> None:
    output = quick_bench("--concurrency=1,2", "--scaling=20,60", "--snapshots=30,90")
    main, live, scaling, snapshots = tables(output)
    assert main[0] == MAIN_HEADER
    # Each case at one client, then at two.
    assert [(row[0], row[1]) for row in main[1:]] == [
        (case, clients) for case in CASES for clients in ("1", "2")
    ]
    assert live[0] == LIVE_HEADER
    [live_row] = live[1:]
    assert live_row[0] == "`memoryAdded` (1 subscriber)"
    assert all(NUMBER.match(cell.removesuffix("%").lstrip("-")) for cell in live_row[1:]), live_row
    assert live_row[LIVE_HEADER.index("idle subscriptions")] == "100"
    assert scaling[0] == SCALING_HEADER
    reads = [case for case in CASES if case.strip("`") in SCALING_CASES]
    assert [(row[0], row[1]) for row in scaling[1:]] == [
        (memories, case) for memories in ("20", "60") for case in reads
    ]
    assert_numbers(main[1:], 1)
    assert_numbers(scaling[1:], 2)
    assert snapshots[0] == SNAPSHOT_HEADER
    assert [row[0] for row in snapshots[1:]] == ["30", "90"]
    assert_numbers(snapshots[1:], 1)
    assert "median of 5 rounds of 0.05 s per route, the routes alternating request" in output
    assert "holds 40 of them" in output
    calls = {row[0]: row[MAIN_HEADER.index("db calls/req")] for row in main[1:]}
    # The nested query on the embedded store: the users, then one call for each parent (the
    # 2 users' sessions, their 4 sessions' memories), each an indexed read in the process.
    assert calls["`users { sessions { user memories { session } } }`"] == "7"


@pytest.mark.slow
def test_the_soak_prints_each_window_and_the_last_over_the_first() -> None:
    output = quick_bench("--concurrency=1", "--scaling=", "--snapshots=", "--soak=3")
    *_, soaked = tables(output)
    assert soaked[0][:2] == ["window", "writes/s"]
    [window, ratios] = soaked[1:]
    assert window[0] == "0-30 s"
    assert all(re.match(r"^[\d.]+ / [\d.]+$", cell) for cell in window[2:]), window
    assert ratios[0] == "last p99 / first p99"
    assert "0 events lost" in output


@pytest.mark.slow
def test_the_benchmark_compares_another_ref_in_the_same_run() -> None:
    """`--compare HEAD` serves the committed tree beside the working one: four routes a case."""
    output = quick_bench("--concurrency=1", "--scaling=", "--snapshots=", "--compare=HEAD")
    main, _live, compared = tables(output)
    assert len(main) == 1 + len(CASES)
    assert compared[0] == COMPARED_HEADER
    assert [row[0] for row in compared[1:]] == CASES
    assert_numbers(compared[1:], 1)
    assert "Against `HEAD`" in output


async def test_a_round_alternates_the_routes_request_by_request() -> None:
    """`lockstep` sends each route's requests in turn (all clients on one route at once), so
    that a burst of other work on the machine lands on every route alike; every route gets
    the same number of requests and its own samples."""
    arrivals: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await reader.readuntil(b"\r\n\r\n"):
            path = head.split(b" ")[1].decode()
            arrivals.append(path)
            await asyncio.sleep(0.002 if path == "/slow" else 0)
            writer.write(
                f"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n{CALLS_HEADER}: 1\r\n\r\n{{}}".encode()
            )
            await writer.drain()
            if reader.at_eof():
                break

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        slow, fast = await lockstep(
            [(port, [Call("GET", "/slow")]), (port, [Call("GET", "/fast")])],
            concurrency=2,
            duration=0.05,
            first=1,
        )
    assert arrivals[:6] == ["/fast", "/fast", "/slow", "/slow", "/fast", "/fast"]
    # A sample per step of two requests.
    assert arrivals.count("/slow") == arrivals.count("/fast") == 2 * len(slow.latencies)
    assert len(slow.latencies) == len(fast.latencies) >= 2
    assert len(slow.calls) == len(fast.calls) == 2 * len(slow.latencies)
    assert statistics.median(slow.latencies) > statistics.median(fast.latencies)
    assert 0 < fast.elapsed < slow.elapsed


@pytest.mark.slow
def test_the_profilers_run() -> None:
    """`python -m bench.profile` and `python -m bench.fields`, which bench/README.md quotes,
    answer their GraphQL requests (a refused one, as by the host check, would stop them)."""
    profile = subprocess.run(
        [
            *(sys.executable, "-m", "bench.profile", "memories(last", "--users=2"),
            *("--sessions=2", "--memories=60", "--requests=3", "--flat"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "Session.memories" in profile or "schema/" in profile, profile
    fields = subprocess.run(
        [sys.executable, "-m", "bench.fields", "--requests=3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "`users { sessions { user memories { session } } }`: 1342 fields" in fields, fields
    assert "| graphql-core |" in fields and "| total |" in fields
