"""`memql export` and `memql import`: JSON Lines that move every user, session and memory into
a fresh store with identical answers, in either direction between the embedded store and
MongoDB, idempotently, and refuse files they cannot read."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import app.web.cli as cli
from app.persistence.data_dir import DataDir
from app.persistence.transfer import ExportFileError, export_documents, import_documents, read_lines
from app.web.cli import main
from tests.stored_data import Taken, read_everything, write_everything
from tests.support.client import running_app
from tests.support.data import add_memories, add_user, snapshot
from tests.support.stores import TEST_MONGODB_URL, make_settings, requires_mongodb


async def stored_by_id(api: Any) -> dict[str, list[dict[str, Any]]]:
    """Every stored document, in `_id` order (the order an export writes them in)."""
    return {
        name: sorted(documents, key=lambda document: str(document["_id"]))
        for name, documents in (await snapshot(api)).items()
    }


async def test_export_then_import_into_a_fresh_store_gives_identical_answers() -> None:
    exported = io.BytesIO()
    async with running_app() as source:
        taken = await write_everything(source)
        shown = await read_everything(source, taken)
        stored = await stored_by_id(source)
        counts = await export_documents(source.store.db, exported)
    assert counts == {name: len(documents) for name, documents in stored.items()}
    async with running_app() as target:
        lines = exported.getvalue().splitlines(keepends=True)
        imported = await import_documents(target.store.db, read_lines(lines))
        assert imported.added == counts and imported.complete
        assert await stored_by_id(target) == stored
        assert await read_everything(target, taken) == shown
        # Importing the same file again changes nothing.
        again = await import_documents(target.store.db, read_lines(lines))
        assert not again.changed and again.present == counts
        assert await stored_by_id(target) == stored


async def test_the_file_is_one_json_document_a_line_with_exact_ids_and_dates() -> None:
    exported = io.BytesIO()
    async with running_app() as source:
        await add_user(source, "alice", metadata={"n": 1.5, "big": 2**40})
        await add_memories(source, "s", ["ünïcödé\nline"])
        (user,) = (await snapshot(source))["users"]
        await export_documents(source.store.db, exported)
    header, *records, end = [json.loads(line) for line in exported.getvalue().splitlines()]
    assert header["memqlExport"] == 1
    assert end == {"memqlExportEnd": {"users": 1, "sessions": 1, "memories": 1}}
    assert [record["collection"] for record in records] == ["users", "sessions", "memories"]
    stored = records[0]["document"]
    assert stored["_id"] == {"$oid": str(user["_id"])}
    # Extended JSON's relaxed dates: UTC, milliseconds written only when there are any.
    [written] = stored["createdAt"].values()
    assert list(stored["createdAt"]) == ["$date"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", written), written
    created = user["createdAt"]
    millis = created.microsecond // 1000 * 1000
    assert dt.datetime.fromisoformat(written) == created.replace(microsecond=millis, tzinfo=dt.UTC)
    assert stored["metadata"] == {"n": 1.5, "big": 2**40}
    assert records[2]["document"]["content"] == "ünïcödé\nline"


async def test_documents_whose_user_or_session_id_is_taken_are_left_out_with_their_memories() -> (
    None
):
    exported = io.BytesIO()
    async with running_app() as source:
        await add_user(source, "alice", firstName="From the file")
        await add_memories(source, "s", ["from the file"])
        await add_memories(source, "t", ["kept"])
        await export_documents(source.store.db, exported)
    async with running_app() as target:
        await add_user(target, "alice", firstName="Already here")
        await add_memories(target, "s", ["already here"])
        counts = await import_documents(
            target.store.db, read_lines(exported.getvalue().splitlines(keepends=True))
        )
        assert counts.conflicting == {"users": 1, "sessions": 1, "memories": 1}
        assert counts.added == {"users": 0, "sessions": 1, "memories": 1}
        data = await target.data(
            '{ user(userId: "alice") { firstName } '
            's: session(sessionId: "s") { memories { edges { node { content } } } } '
            't: session(sessionId: "t") { memories { edges { node { content } } } } }'
        )
        assert data["user"]["firstName"] == "Already here"
        assert data["s"]["memories"]["edges"] == [{"node": {"content": "already here"}}]
        assert data["t"]["memories"]["edges"] == [{"node": {"content": "kept"}}]


@pytest.mark.parametrize(
    ("lines", "said"),
    [
        ([], "the file is empty"),
        ([b"\n", b" \n"], "the file is empty"),
        ([b'{"users": []}\n'], "line 1 is not the header of a `memql export` file"),
        ([b'{"memqlExport": 2, "writtenBy": "memql 9"}\n'], "written by a newer memql (memql 9"),
        ([b'{"memqlExport": 1}\n', b"{oops\n"], "line 2 is not JSON"),
        ([b'{"memqlExport": 1}\n', b'{"collection": "memor'], "ends in the middle of line 2"),
        ([b'{"memqlExport": 1}\n', b'{"collection": "other", "document": {"_id": 1}}\n'], "line 2"),
    ],
    ids=[
        "empty",
        "blank",
        "not an export",
        "newer",
        "not JSON",
        "cut mid-line",
        "unknown collection",
    ],
)
def test_a_file_that_is_no_export_is_refused_saying_where(lines: list[bytes], said: str) -> None:
    with pytest.raises(ExportFileError) as raised:
        list(read_lines(lines))
    assert said in str(raised.value)


def written_data_dir(path: Path) -> tuple[Taken, dict[str, Any], dict[str, Any]]:
    """A data directory holding everything `write_everything` writes; what the API then shows
    and what is stored."""

    async def write() -> tuple[Taken, dict[str, Any], dict[str, Any]]:
        async with running_app(make_settings(mongodb_url=None, data_dir=path)) as api:
            taken = await write_everything(api)
            return taken, await read_everything(api, taken), await stored_by_id(api)

    return asyncio.run(write())


def answers_from(settings: Any, taken: Taken) -> tuple[dict[str, Any], dict[str, Any]]:
    async def read() -> tuple[dict[str, Any], dict[str, Any]]:
        async with running_app(settings, keep_database=True) as api:
            return await read_everything(api, taken), await stored_by_id(api)

    return asyncio.run(read())


def test_memql_export_and_import_move_a_data_dir_to_another(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    taken, shown, stored = written_data_dir(tmp_path / "a")
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    missing = runner.invoke(main, ["export", "all.jsonl", "--data-dir", "nowhere"])
    assert missing.exit_code == 1
    assert f"there is no data directory {tmp_path / 'nowhere'}" in missing.output
    assert not (tmp_path / "nowhere").exists()
    exported = runner.invoke(main, ["export", "all.jsonl", "--data-dir", "a"])
    assert exported.exit_code == 0, exported.output
    assert exported.output == "exported to all.jsonl: 3 users, 6 sessions, 14 memories\n"
    imported = runner.invoke(main, ["import", "all.jsonl", "--data-dir", "b"])
    assert imported.exit_code == 0, imported.output
    assert imported.output.splitlines() == [
        "users: 3 added, 0 already there",
        "sessions: 6 added, 0 already there",
        "memories: 14 added, 0 already there",
    ]
    again = runner.invoke(main, ["import", "all.jsonl", "--data-dir", "b"])
    assert again.exit_code == 0, again.output
    assert "memories: 0 added, 14 already there" in again.output
    settings = make_settings(mongodb_url=None, data_dir=tmp_path / "b")
    assert answers_from(settings, taken) == (shown, stored)


def test_a_large_file_gets_a_progress_bar(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    written_data_dir(tmp_path / "a")
    monkeypatch.setattr(cli, "LARGE_EXPORT_DOCUMENTS", 10)
    monkeypatch.setattr(cli, "LARGE_FILE_BYTES", 1000)
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    exported = runner.invoke(main, ["export", "all.jsonl", "--data-dir", "a"])
    assert exported.exit_code == 0, exported.output
    assert exported.stderr.startswith("exporting")
    imported = runner.invoke(main, ["import", "all.jsonl", "--data-dir", "b"])
    assert imported.exit_code == 0, imported.output
    assert imported.stderr.startswith("importing")


def test_a_file_cut_short_imports_what_it_holds_and_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    taken, _, stored = written_data_dir(tmp_path / "a")
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(main, ["export", "all.jsonl", "--data-dir", "a"]).exit_code == 0
    whole = Path("all.jsonl").read_bytes()
    Path("cut.jsonl").write_bytes(whole[: whole.rindex(b"\n", 0, -1) + 1])
    cut = runner.invoke(main, ["import", "cut.jsonl", "--data-dir", "b"])
    assert cut.exit_code == 1
    assert "cut.jsonl ends before its last line" in cut.output
    Path("mid.jsonl").write_bytes(whole[:-30])
    mid = runner.invoke(main, ["import", "mid.jsonl", "--data-dir", "c"])
    assert mid.exit_code == 1
    assert "ends in the middle of line" in mid.output and "nothing was imported" in mid.output
    assert not (tmp_path / "c" / "snapshot.bson").exists()
    settings = make_settings(mongodb_url=None, data_dir=tmp_path / "b")
    assert answers_from(settings, taken)[1] == stored


def test_export_and_import_wait_for_the_server_to_stop(tmp_path: Path) -> None:
    holder = DataDir(tmp_path / "a")
    holder.lock("memql serve")
    try:
        for command in (["export", "x.jsonl"], ["import", __file__]):
            result = CliRunner().invoke(main, [*command, "--data-dir", str(holder.path)])
            assert result.exit_code == 1
            assert "is in use by memql serve (pid" in result.output
    finally:
        holder.unlock()


def test_export_needs_somewhere_to_export_from() -> None:
    result = CliRunner().invoke(main, ["export", "x.jsonl"], env={"MEMQL_DATA_DIR": ""})
    assert result.exit_code == 1
    assert "MEMQL_DATA_DIR is empty" in result.output


@requires_mongodb
def test_export_and_import_move_data_to_mongodb_and_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    taken, shown, stored = written_data_dir(tmp_path / "embedded")
    runner = CliRunner()
    on_mongodb = make_settings(mongodb_url=TEST_MONGODB_URL)
    env = {"MEMQL_MONGODB_URL": TEST_MONGODB_URL or "", "MEMQL_DATABASE": on_mongodb.database}
    monkeypatch.chdir(tmp_path)
    try:
        out = runner.invoke(main, ["export", "a.jsonl", "--data-dir", "embedded"])
        assert out.exit_code == 0, out.output
        into = runner.invoke(main, ["import", "a.jsonl"], env=env)
        assert into.exit_code == 0, into.output
        assert runner.invoke(main, ["import", "a.jsonl"], env=env).exit_code == 0
        assert answers_from(on_mongodb, taken)[0] == shown
        back = runner.invoke(main, ["export", "b.jsonl"], env=env)
        assert back.exit_code == 0, back.output
        home = runner.invoke(main, ["import", "b.jsonl", "--data-dir", "again"])
        assert home.exit_code == 0, home.output
        settings = make_settings(mongodb_url=None, data_dir=tmp_path / "again")
        assert answers_from(settings, taken) == (shown, stored)
    finally:

        async def drop() -> None:
            async with running_app(on_mongodb):
                pass  # running_app drops the test database on MongoDB

        asyncio.run(drop())


def test_memql_import_says_what_it_left_out_and_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    written_data_dir(tmp_path / "a")

    async def alice_elsewhere() -> None:
        async with running_app(make_settings(mongodb_url=None, data_dir=tmp_path / "b")) as api:
            await add_user(api, "alice")

    asyncio.run(alice_elsewhere())
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["export", "all.jsonl", "--data-dir", "a"]).exit_code == 0
    imported = runner.invoke(main, ["import", "all.jsonl", "--data-dir", "b"])
    assert imported.exit_code == 0, imported.output
    assert imported.output.splitlines()[0] == (
        "users: 2 added, 0 already there, 1 left out (another user there has the same userId)"
    )
