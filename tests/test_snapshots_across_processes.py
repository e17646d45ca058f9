"""The embedded store on disk across real `memql serve` processes: a clean stop (SIGTERM, Ctrl-C)
keeps every write, SIGKILL loses at most the last snapshot interval, a second process on the
same directory and a damaged snapshot are refused in one line, and --reload keeps --data-dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from app.web.live_server import ServerProcess, free_port
from tests.stored_data import HttpGraphQL, newest_memory, read_everything, write_everything
from tests.support.client import running_app
from tests.support.data import add_memories
from tests.support.stores import make_settings

ROOT = Path(__file__).resolve().parent.parent
SERVE = [sys.executable, "-m", "app", "serve"]


def environment(**settings: str) -> dict[str, str]:
    """This environment without MEMQL_* (so the default data directory applies), plus
    `settings`, and the checkout on the path (the servers run in temporary directories)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("MEMQL_")}
    return {**env, "PYTHONPATH": str(ROOT), "MEMQL_LOG_LEVEL": "INFO", **settings}


@contextmanager
def serving(
    cwd: Path, *arguments: str, **settings: str
) -> Iterator[tuple[ServerProcess, HttpGraphQL]]:
    with ServerProcess([*SERVE, *arguments], cwd=cwd, env=environment(**settings)) as server:
        yield server, HttpGraphQL(httpx.AsyncClient(base_url=server.url, timeout=30))


def stop_with(server: ServerProcess, signal_number: int) -> None:
    assert server.process is not None
    server.process.send_signal(signal_number)
    server.process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize(
    "signal_number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"]
)
async def test_a_clean_stop_keeps_every_write_in_the_default_data_dir(
    tmp_path: Path, signal_number: int
) -> None:
    """No interval passes (3600 s): only the snapshot written at shutdown can keep the data."""
    with serving(tmp_path, MEMQL_SNAPSHOT_INTERVAL_SECONDS="3600") as (server, api):
        taken = await write_everything(api)
        shown = await read_everything(api, taken)
        stop_with(server, signal_number)
        log = server.log_text()
    data_dir = tmp_path / "memql-data"
    assert f"keeping data in {data_dir} (MEMQL_DATA_DIR; created it)" in log
    assert f"wrote the last snapshot to {data_dir / 'snapshot.bson'}" in log
    with serving(tmp_path) as (server, api):
        assert await read_everything(api, taken) == shown
        await api.data(
            'mutation { addMemory(input: {sessionId: "a1", memories: '
            '[{role: "human", content: "after the restart"}]}) { memories { id } } }'
        )
        assert await newest_memory(api, "a1") == "after the restart"


INTERVAL = 0.5
# How long before the kill the last snapshot may have been taken: one interval, plus the time
# a snapshot takes and the scheduling of a busy two-core machine.
SLACK = 1.0


@pytest.mark.slow
async def test_sigkill_loses_at_most_the_writes_of_the_last_interval(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    acknowledged: list[float] = []
    with serving(tmp_path, "--data-dir", "data", MEMQL_SNAPSHOT_INTERVAL_SECONDS=str(INTERVAL)) as (
        server,
        api,
    ):
        writing_until = time.monotonic() + 6 * INTERVAL
        while time.monotonic() < writing_until:
            await api.data(
                'mutation($c: String!) { addMemory(input: {sessionId: "k", memories: '
                '[{role: "human", content: $c}]}) { memories { id } } }',
                {"c": f"m{len(acknowledged)}"},
            )
            acknowledged.append(time.monotonic())
        assert server.process is not None
        server.process.kill()
        killed_at = time.monotonic()
        server.process.wait(timeout=30)
    with serving(tmp_path, "--data-dir", "data") as (server, api):
        kept = await all_contents(api, "k")
        assert await newest_memory(api, "k") == kept[-1]
        await api.data(
            'mutation { addMemory(input: {sessionId: "k", memories: '
            '[{role: "human", content: "after"}]}) { memories { id } } }'
        )
        assert await newest_memory(api, "k") == "after"  # the seq counter came back too
    # What came back is exactly the writes acknowledged first, in order: no gaps.
    assert kept == [f"m{n}" for n in range(len(kept))]
    lost = len(acknowledged) - len(kept)
    lost_span = killed_at - acknowledged[len(kept)] if lost else 0.0
    record_property("acknowledged", len(acknowledged))
    record_property("lost", lost)
    print(
        f"\nSIGKILL after {len(acknowledged)} acknowledged writes in {6 * INTERVAL:g} s "
        f"(snapshots every {INTERVAL:g} s): {lost} lost, those of the last {lost_span:.2f} s"
    )
    assert lost_span <= INTERVAL + SLACK


async def all_contents(api: HttpGraphQL, session_id: str) -> list[str]:
    contents: list[str] = []
    after = None
    for _ in range(100):
        data = await api.data(
            "query($s: String!, $after: String) { session(sessionId: $s) { memories(first: 100,"
            " after: $after) { edges { node { content } } pageInfo { hasNextPage endCursor } } } }",
            {"s": session_id, "after": after},
        )
        page = data["session"]["memories"]
        contents += [edge["node"]["content"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return contents
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("more than 10,000 memories")


def refused(cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`memql serve` that must refuse to start: its exit status and output."""
    return subprocess.run(
        [*SERVE, "--port", str(free_port()), *arguments],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_second_server_on_the_same_data_dir_refuses_in_one_line_naming_the_first(
    tmp_path: Path,
) -> None:
    with ServerProcess([*SERVE, "--data-dir", "data"], cwd=tmp_path, env=environment()) as first:
        assert first.process is not None
        second = refused(tmp_path, "--data-dir", "data")
        assert second.returncode == 1
        assert second.stdout == ""
        assert second.stderr.count("\n") == 1, second.stderr
        assert second.stderr.startswith(f"Error: the data directory {tmp_path / 'data'} is in use")
        assert f"memql serve (pid {first.process.pid} on " in second.stderr
        assert first.answers()


async def test_a_damaged_snapshot_stops_start_up_in_one_line_naming_the_file_and_the_way_out(
    tmp_path: Path,
) -> None:
    settings = make_settings(mongodb_url=None, data_dir=tmp_path / "data")
    for content in ("one", "two"):
        async with running_app(settings) as api:
            await add_memories(api, "s", [content])
    snapshot = tmp_path / "data" / "snapshot.bson"
    snapshot.write_bytes(snapshot.read_bytes()[:-100])
    result = refused(tmp_path, "--data-dir", "data")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"Error: {snapshot} is truncated")
    assert "move that over snapshot.bson to start from it" in result.stderr


@pytest.mark.slow
async def test_reload_serves_from_the_data_dir_given(tmp_path: Path) -> None:
    """With --reload uvicorn builds the app in a child process, from MEMQL_DATA_DIR."""
    with serving(tmp_path, "--reload", "--data-dir", "data") as (server, api):
        await api.data(
            'mutation { addMemory(input: {sessionId: "r", memories: '
            '[{role: "human", content: "reloaded"}]}) { memories { id } } }'
        )
        stop_with(server, signal.SIGTERM)
    with serving(tmp_path, "--data-dir", "data") as (server, api):
        assert await newest_memory(api, "r") == "reloaded"
