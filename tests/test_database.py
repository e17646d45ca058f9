"""The database module: one client, the embedded store's warning, idempotent indexes."""

from __future__ import annotations

import logging

import pytest

from app.call_counting import CountingCollection
from app.db import Database, index_specs
from tests.conftest import ON_MONGODB, make_settings, requires_mongodb
from tests.fake_mongo import FakeMongoClient


def test_embedded_store_gets_no_index_that_would_make_it_scan() -> None:
    assert index_specs(embedded=True, purge_after_seconds=3600) == []


def test_mongodb_gets_the_indexes_of_the_spec() -> None:
    specs = {
        (spec.collection, spec.keys, spec.unique, spec.expire_after_seconds)
        for spec in index_specs(embedded=False, purge_after_seconds=3600)
    }
    assert specs == {
        ("users", (("userId", 1),), True, None),
        ("users", (("createdAt", 1), ("_id", 1)), False, None),
        ("sessions", (("sessionId", 1),), True, None),
        ("sessions", (("createdAt", 1), ("_id", 1)), False, None),
        ("sessions", (("userId", 1), ("createdAt", 1), ("_id", 1)), False, None),
        ("memories", (("sessionId", 1), ("seq", 1)), False, None),
        ("users", (("deletedAt", 1),), False, 3600),
        ("sessions", (("deletedAt", 1),), False, 3600),
        ("memories", (("deletedAt", 1),), False, 3600),
    }


def fake_database(server: FakeMongoClient, purge_after_seconds: int = 3600) -> Database:
    """memql's Database over the fake: what start-up does to MongoDB's indexes."""
    return Database(
        server,  # type: ignore[arg-type]
        "memql",
        embedded=False,
        purge_after_seconds=purge_after_seconds,
    )


def created(server: FakeMongoClient) -> list[tuple[str, str]]:
    return [
        (collection, index["name"])
        for name, collection, body in server.commands
        if name == "createIndexes"
        for index in body["indexes"]
    ]


async def test_ensure_indexes_creates_each_collections_indexes_in_one_call_then_none() -> None:
    server = FakeMongoClient()
    await fake_database(server).ensure_indexes()
    creates = [collection for name, collection, _ in server.commands if name == "createIndexes"]
    assert creates == ["users", "sessions", "memories"]
    assert sorted(created(server)) == sorted(
        (spec.collection, spec.name)
        for spec in index_specs(embedded=False, purge_after_seconds=3600)
    )
    seen = len(server.commands)
    await fake_database(server).ensure_indexes()
    assert {name for name, _, _ in server.commands[seen:]} == {"listIndexes"}


async def test_an_index_with_memqls_keys_under_another_name_is_used_not_made_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A DBA's index, or the one shardCollection made, has the keys memql needs under another
    name: creating memql's own would fail with code 85 and abort start-up."""
    server = FakeMongoClient()
    specs = index_specs(embedded=False, purge_after_seconds=3600)
    theirs = [spec for spec in specs if spec.expire_after_seconds is None]
    for spec in theirs:
        options = {"unique": True} if spec.unique else {}
        server.add_index(spec.collection, dict(spec.keys), f"dba_{spec.name}", **options)
    caplog.set_level(logging.INFO, logger="memql.db")
    report = await fake_database(server).ensure_indexes()
    assert sorted(created(server)) == sorted(
        (spec.collection, spec.name) for spec in specs if spec not in theirs
    )
    assert report.warnings == []
    for spec in theirs:
        assert f"{spec.collection}.dba_{spec.name}" in caplog.text


async def test_an_index_with_memqls_keys_but_not_unique_is_reported_not_made_again() -> None:
    server = FakeMongoClient()
    server.add_index("users", {"userId": 1}, "userId_1")
    report = await fake_database(server).ensure_indexes()
    assert ("users", "userId_unique") not in created(server)
    (warning,) = report.warnings
    assert "users.userId_1" in warning and "not unique" in warning


async def test_memqls_index_name_taken_by_other_keys_gets_the_name_mongodb_gives() -> None:
    server = FakeMongoClient()
    server.add_index("sessions", {"sessionId": 1, "other": 1}, "sessionId_unique")
    report = await fake_database(server).ensure_indexes()
    assert ("sessions", "sessionId_1") in created(server)
    assert report.warnings == []


async def test_embedded_store_logs_one_warning_that_data_is_not_persisted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="memql")
    db = Database.connect(make_settings(mongodb_url=None))
    await db.ensure_indexes()
    db.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "not persisted" in warnings[0].getMessage()


@requires_mongodb
async def test_indexes_exist_on_mongodb_after_start_up() -> None:
    from tests.conftest import running_app

    assert ON_MONGODB
    async with running_app() as api:
        await api.store.db.ensure_indexes()  # a second time: idempotent
        names = {index["name"] async for index in api.store.db.sessions.list_indexes()}
        assert {"sessionId_unique", "createdAt_id", "userId_createdAt_id"} <= names


def test_only_a_database_asked_to_count_calls_wraps_its_collections() -> None:
    """The call-counting proxy is for the benchmark and tests; memql's server calls motor."""
    plain = Database.connect(make_settings(mongodb_url=None))
    counting = Database.connect(make_settings(mongodb_url=None), count_calls=True)
    assert not any(
        isinstance(collection, CountingCollection)
        for collection in (plain.users, plain.sessions, plain.memories)
    )
    assert all(
        isinstance(collection, CountingCollection)
        for collection in (counting.users, counting.sessions, counting.memories)
    )
    plain.close()
    counting.close()


def test_the_store_reads_from_the_primary_whatever_the_url_says() -> None:
    """A merge's read and a lease's read must see the latest write: a secondary may lag."""
    from pymongo import ReadPreference

    db = Database.connect(
        make_settings(
            mongodb_url="mongodb://127.0.0.1:1/?readPreference=secondaryPreferred",
            mongodb_timeout_ms=100,
        )
    )
    try:
        assert db.client.read_preference != ReadPreference.PRIMARY  # the URL's, for the rest
        for collection in (db.users, db.sessions, db.memories, db.collection("other")):
            assert collection.read_preference == ReadPreference.PRIMARY
    finally:
        db.close()
