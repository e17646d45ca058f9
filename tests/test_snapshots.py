"""The embedded store on disk (MEMQL_DATA_DIR), in one process: a restart gives back every
document exactly, snapshots are written when something changed and whole or not at all, writes
wait while one is copied but reads do not, and a directory is locked and checked at start-up."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import bson
import pytest
from click.testing import CliRunner
from pymongo.results import UpdateResult

import app.persistence.snapshot_file as snapshot_file
import app.persistence.snapshots as snapshots_module
from app.clock import utc_now
from app.db import Database
from app.persistence.data_dir import DataDir, DataDirInUse
from app.persistence.indexes import IndexedCollectionStore
from app.persistence.snapshot_file import SnapshotFileError, read_snapshot_file
from app.persistence.snapshots import Snapshots
from app.persistence.write_gate import WriteGate
from app.settings import Settings
from app.web.cli import main
from tests.stored_data import newest_memory, read_everything, write_everything
from tests.support.client import GraphQLClient, running_app
from tests.support.data import add_memories, memory_contents, raw_documents, snapshot
from tests.support.stores import make_settings

NEVER = 3600.0
"""A snapshot interval no test waits for: only the snapshot at shutdown is written."""


def on_disk(path: Path, **overrides: Any) -> Settings:
    """The embedded store, keeping its data in `path`."""
    values: dict[str, Any] = {"snapshot_interval_seconds": NEVER, **overrides}
    return make_settings(mongodb_url=None, data_dir=path, **values)


def snapshots_of(api: GraphQLClient) -> Snapshots:
    snapshots: Snapshots = api.app.state.snapshots
    return snapshots


async def test_a_restart_gives_back_every_document_and_every_answer(tmp_path: Path) -> None:
    settings = on_disk(tmp_path / "data")
    async with running_app(settings) as api:
        taken = await write_everything(api)
        shown = await read_everything(api, taken)
        stored = await snapshot(api)
    # Every kind of state is there to come back: deletions of each kind, seq counters.
    assert any("deletedAt" in user for user in stored["users"])
    assert any("deletedAt" in session for session in stored["sessions"])
    assert {memory["content"] for memory in stored["memories"] if "deletedAt" in memory} == {
        "bob's",
        "soon gone",
        "wiped one",
        "wiped two",
    }
    async with running_app(settings) as api:
        # Exactly as stored: ids, ms timestamps (UTC), seq counters, metadata, deletedAt.
        assert await snapshot(api) == stored
        # Every restored document is in every index, and the answers read through them agree.
        for name, documents in stored.items():
            indexed = api.store.db.db[name]._db_store[name]
            assert isinstance(indexed, IndexedCollectionStore)
            assert len(indexed.ordinals) == len(documents)
            assert all(len(index.placed) == len(documents) for index in indexed.secondary)
        assert await read_everything(api, taken) == shown
        await add_memories(api, "a1", ["six"])
        await add_memories(api, "wiped", ["after the restart"])
        assert await newest_memory(api, "a1") == "six"
        seqs = {m["content"]: m["seq"] for m in await raw_documents(api, "memories")}
        assert (seqs["five"], seqs["six"]) == (5, 6)
        assert (seqs["after the wipe"], seqs["after the restart"]) == (3, 4)


async def test_timestamps_come_back_as_utc_at_millisecond_precision(tmp_path: Path) -> None:
    settings = on_disk(tmp_path / "data")
    async with running_app(settings) as api:
        await add_memories(api, "s", ["one"])
        (before,) = await raw_documents(api, "memories")
    async with running_app(settings) as api:
        (after,) = await raw_documents(api, "memories")
    assert after["createdAt"] == before["createdAt"]
    assert after["createdAt"].utcoffset().total_seconds() == 0
    assert after["createdAt"].microsecond % 1000 == 0


def test_an_empty_data_dir_keeps_the_data_in_memory_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEMQL_DATA_DIR")
    assert Settings(_env_file=None).snapshot_dir == Path("memql-data")
    monkeypatch.setenv("MEMQL_DATA_DIR", "")
    assert Settings(_env_file=None).snapshot_dir is None
    monkeypatch.setenv("MEMQL_DATA_DIR", str(tmp_path / "elsewhere"))
    assert Settings(_env_file=None).snapshot_dir == tmp_path / "elsewhere"


async def test_memory_only_writes_no_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    async with running_app(make_settings(mongodb_url=None)) as api:
        await add_memories(api, "s", ["one"])
        assert api.app.state.snapshots is None
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - a directory listing, in a test


async def test_the_data_dir_is_ignored_with_a_warning_on_mongodb(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.WARNING, logger="memql")
    settings = make_settings(mongodb_url="mongodb://127.0.0.1:1", data_dir=tmp_path / "data")
    assert settings.snapshot_dir is None
    Database.connect(settings).close()
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "MEMQL_DATA_DIR" in warning and "ignored" in warning
    assert not (tmp_path / "data").exists()


async def test_a_snapshot_is_written_only_when_something_changed(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data")
    async with running_app(on_disk(data_dir.path)) as api:
        snapshots = snapshots_of(api)
        assert await snapshots.take() is None
        assert not data_dir.snapshot.exists()
        await add_memories(api, "s", ["one"])
        first = await snapshots.take()
        assert first is not None and first.documents == 2
        written = data_dir.snapshot.read_bytes()
        assert len(written) == first.bytes
        # Reads change nothing; nor does a sweep that finds nothing to purge.
        assert await memory_contents(api, "s") == ["one"]
        await api.app.state.sweeper.sweep()
        assert await snapshots.take() is None
        assert data_dir.snapshot.read_bytes() == written
        await add_memories(api, "s", ["two"])
        assert await snapshots.take() is not None
        # The snapshot before is kept next to the new one.
        assert data_dir.previous.read_bytes() == written
        assert data_dir.snapshot.read_bytes() != written


async def test_snapshots_are_written_every_interval(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data")
    async with running_app(on_disk(data_dir.path, snapshot_interval_seconds=0.1)) as api:
        await add_memories(api, "s", ["one"])
        deadline = time.monotonic() + 10
        while not data_dir.snapshot.exists():
            assert time.monotonic() < deadline, "no snapshot within 10 s"
            await asyncio.sleep(0.05)
        image = read_snapshot_file(data_dir.snapshot)
        assert [len(c.documents) for c in image.collections] == [0, 1, 1]


async def test_while_a_snapshot_copies_the_data_writes_wait_and_reads_do_not(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    copying, go_on = threading.Event(), threading.Event()
    encode = snapshot_file.encode_documents

    def slow_encode(documents: Iterable[dict[str, Any]]) -> list[bytes]:
        copying.set()
        assert go_on.wait(10)
        return encode(documents)

    monkeypatch.setattr(snapshots_module, "encode_documents", slow_encode)
    async with running_app(on_disk(tmp_path / "data")) as api:
        await add_memories(api, "s", ["one"])
        taking = asyncio.create_task(snapshots_of(api).take())
        await asyncio.to_thread(copying.wait, 10)
        writing = asyncio.create_task(add_memories(api, "s", ["two"]))
        # A read is answered meanwhile; the write waits for the copy.
        assert await memory_contents(api, "s") == ["one"]
        await asyncio.sleep(0.1)
        assert not writing.done()
        go_on.set()
        await writing
        await taking
        in_file = read_snapshot_file(DataDir(tmp_path / "data").snapshot)
        assert [m["content"] for m in in_file.collections[2].documents] == ["one"]
        assert await snapshots_of(api).take() is not None
    in_file = read_snapshot_file(DataDir(tmp_path / "data").snapshot)
    assert [m["content"] for m in in_file.collections[2].documents] == ["one", "two"]


async def test_a_snapshot_that_fails_lets_writes_go_on_and_is_tried_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    calls = 0
    encode = snapshot_file.encode_documents

    def fails_once(documents: Iterable[dict[str, Any]]) -> list[bytes]:
        nonlocal calls
        calls += 1
        if calls == 1:
            for _ in documents:  # stops half-way through the collection
                break
            raise bson.errors.InvalidDocument("cannot encode object: {1, 2}")
        return encode(documents)

    monkeypatch.setattr(snapshots_module, "encode_documents", fails_once)
    data_dir = DataDir(tmp_path / "data")
    async with running_app(on_disk(data_dir.path, snapshot_interval_seconds=0.1)) as api:
        await add_memories(api, "s", ["one"])
        deadline = time.monotonic() + 10
        while not data_dir.snapshot.exists():
            assert time.monotonic() < deadline, "no snapshot after the failed one"
            await add_memories(api, "s", ["more"])  # writes go on: the reading was let go
            await asyncio.sleep(0.05)
    assert "writing a snapshot to" in caplog.text and "tries again in 0.1 s" in caplog.text


async def test_the_write_gate_counts_only_writes_that_changed_something() -> None:
    gate = WriteGate()

    async def matched_nothing() -> UpdateResult:
        return UpdateResult({"n": 0, "nModified": 0}, acknowledged=True)

    async def modified() -> UpdateResult:
        return UpdateResult({"n": 1, "nModified": 1}, acknowledged=True)

    async def failed() -> None:
        raise RuntimeError("a write failed half-way")

    await gate.write(matched_nothing)
    assert gate.changes == 0
    await gate.write(modified)
    with pytest.raises(RuntimeError):
        await gate.write(failed)
    assert gate.changes == 2  # a failed write may have changed something
    async with gate.held() as changes:
        held = asyncio.create_task(gate.write(modified))
        await asyncio.sleep(0.05)
        assert changes == 2 and not held.done()
    await held
    assert gate.changes == 3


async def test_a_write_lease_in_the_snapshot_does_not_hold_its_session_after_a_restart(
    tmp_path: Path,
) -> None:
    settings = on_disk(tmp_path / "data")
    async with running_app(settings) as api:
        await add_memories(api, "s", ["one"])
        # A writer that reserved its seq and never released the lease: the process ended.
        await api.store.sessions.lease.reserve("s", 1)
        (session,) = await raw_documents(api, "sessions")
        assert session["writer"] is not None
    async with running_app(settings) as api:
        (session,) = await raw_documents(api, "sessions")
        assert "writer" not in session and "writerUntil" not in session
        started = time.monotonic()
        await add_memories(api, "s", ["three"])
        assert time.monotonic() - started < 5  # the lease was 10 s
        assert await memory_contents(api, "s") == ["one", "three"]


async def test_a_failed_write_leaves_the_snapshot_before_it_and_the_next_one_catches_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = on_disk(tmp_path / "data")
    data_dir = DataDir(tmp_path / "data")
    async with running_app(settings) as api:
        await add_memories(api, "s", ["one"])
        assert await snapshots_of(api).take() is not None
        good = data_dir.snapshot.read_bytes()
        await add_memories(api, "s", ["two"])

        def failing_disk(fd: int) -> None:
            raise OSError(5, "Input/output error")

        with monkeypatch.context() as patched:
            patched.setattr(os, "fsync", failing_disk)
            with pytest.raises(OSError, match="Input/output"):
                await snapshots_of(api).take()
        assert data_dir.snapshot.read_bytes() == good
    async with running_app(settings) as api:
        assert await memory_contents(api, "s") == ["one", "two"]


async def test_a_partial_file_left_by_a_crash_mid_write_is_removed_at_start_up(
    tmp_path: Path,
) -> None:
    settings = on_disk(tmp_path / "data")
    async with running_app(settings) as api:
        await add_memories(api, "s", ["one"])
    partial = tmp_path / "data" / "snapshot.bson.tmp"
    partial.write_bytes(b"half a snapshot")
    async with running_app(settings) as api:
        assert await memory_contents(api, "s") == ["one"]
        assert not partial.exists()


def damaged(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def newer(data: bytes) -> bytes:
    length = int.from_bytes(data[:4], "little")
    header = bson.decode(data[:length])
    return bson.encode({**header, "memqlSnapshot": 2}) + data[length:]


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        (lambda data: data[: len(data) // 2], "is truncated"),
        (lambda data: data[:10], "is truncated (10 bytes)"),
        (damaged, "is damaged: its checksum does not match"),
        (lambda data: b"", "is empty"),
        (lambda data: b'{"users": []}', "is not a memql snapshot"),
        (newer, "was written by a newer memql"),
    ],
    ids=["cut in half", "cut in the header", "a byte flipped", "empty", "not one", "newer"],
)
async def test_a_snapshot_memql_cannot_start_from_stops_start_up_saying_what_to_do(
    tmp_path: Path, spoil: Any, said: str
) -> None:
    settings = on_disk(tmp_path / "data")
    data_dir = DataDir(tmp_path / "data")
    for content in ("one", "two"):  # two snapshots: the current one and the one before it
        async with running_app(settings) as api:
            await add_memories(api, "s", [content])
    data_dir.snapshot.write_bytes(spoil(data_dir.snapshot.read_bytes()))
    with pytest.raises(SnapshotFileError) as raised:
        async with running_app(settings):
            pass
    message = str(raised.value)
    assert message.startswith(f"{data_dir.snapshot} {said}")
    assert "\n" not in message
    if said == "was written by a newer memql":
        assert "memql export" in message
    elif said != "is not a memql snapshot":
        assert "snapshot.previous.bson" in message
    # The way out it names works: the previous snapshot, moved over the broken one.
    os.replace(data_dir.previous, data_dir.snapshot)
    async with running_app(settings) as api:
        assert await memory_contents(api, "s") == ["one"]


async def test_without_a_previous_snapshot_the_error_offers_backups(tmp_path: Path) -> None:
    settings = on_disk(tmp_path / "data")
    async with running_app(settings) as api:
        await add_memories(api, "s", ["one"])
    data_dir = DataDir(tmp_path / "data")
    data_dir.snapshot.write_bytes(damaged(data_dir.snapshot.read_bytes()))
    with pytest.raises(SnapshotFileError, match="put back a copy from your backups"):
        read_snapshot_file(data_dir.snapshot, data_dir.previous)


async def test_a_previous_snapshot_alone_is_not_taken_for_an_empty_store(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data")
    data_dir.path.mkdir()
    data_dir.previous.write_bytes(b"someone's data")
    with pytest.raises(SnapshotFileError, match=r"holds snapshot\.previous\.bson but no snapshot"):
        async with running_app(on_disk(data_dir.path)):
            pass


async def test_one_process_at_a_time_on_a_data_dir(tmp_path: Path) -> None:
    holder = DataDir(tmp_path / "data")
    holder.lock("memql serve")
    try:
        with pytest.raises(DataDirInUse) as raised:
            async with running_app(on_disk(holder.path)):
                pass
        message = str(raised.value)
        assert f"is in use by memql serve (pid {os.getpid()} on " in message
        assert "\n" not in message
    finally:
        holder.unlock()
    async with running_app(on_disk(holder.path)) as api:
        await add_memories(api, "s", ["one"])


async def test_a_memory_deleted_before_a_restart_is_purged_on_time_after_it(
    tmp_path: Path,
) -> None:
    grace, sweep = 2, 0.1
    settings = on_disk(tmp_path / "data", purge_after_seconds=grace, purge_interval_seconds=sweep)
    async with running_app(settings) as api:
        await add_memories(api, "s", ["one", "two"])
        await api.data('mutation { deleteMemories(sessionId: "s") { deletedCount } }')
        deleted = await raw_documents(api, "memories")
    deleted_at = deleted[0]["deletedAt"]
    async with running_app(settings) as api:
        still = await raw_documents(api, "memories")
        if utc_now() - deleted_at < timedelta(seconds=grace - 0.5):
            assert still == deleted  # the grace period counts from the deletion, not the restart
        deadline = deleted_at.timestamp() + grace + sweep + 2.0
        while await raw_documents(api, "memories"):
            assert time.time() < deadline, "not purged on time after the restart"
            await asyncio.sleep(0.05)
        assert time.time() >= deleted_at.timestamp() + grace


def test_serve_hands_its_data_dir_to_the_server_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """uvicorn builds the app from the environment (in a child process with --reload)."""
    started: list[str] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append(os.environ["MEMQL_DATA_DIR"]))
    monkeypatch.setenv("MEMQL_DATA_DIR", "")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["serve", "--data-dir", "here"]).exit_code == 0
    assert runner.invoke(main, ["serve", "--in-memory"]).exit_code == 0
    assert started == [str(tmp_path / "here"), ""]
    both = runner.invoke(main, ["serve", "--data-dir", "here", "--in-memory"])
    assert both.exit_code == 2 and "not both" in both.output
    # Checked before uvicorn starts; made by the server, which logs that it made it.
    assert not (tmp_path / "here").exists()


def test_serve_refuses_a_data_dir_in_use_or_unusable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("uvicorn started"))
    monkeypatch.setenv("MEMQL_DATA_DIR", "")
    holder = DataDir(tmp_path / "data")
    holder.lock("memql serve")
    try:
        result = CliRunner().invoke(main, ["serve", "--data-dir", str(holder.path)])
    finally:
        holder.unlock()
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert f"is in use by memql serve (pid {os.getpid()} on " in result.output
    (tmp_path / "file").write_text("not a directory")
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path / "file" / "data")])
    assert result.exit_code == 1
    assert "is not a directory" in result.output and "--in-memory" in result.output
