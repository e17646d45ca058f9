"""The database module: one client, the embedded store's warning, idempotent indexes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.call_counting import CountingCollection
from app.db import Database, index_specs
from tests.conftest import ON_MONGODB, make_settings, requires_mongodb


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


class RecordingCollection:
    def __init__(self, name: str, calls: list[tuple[str, list[Any]]]) -> None:
        self.name = name
        self.calls = calls

    async def list_indexes(self) -> AsyncIterator[dict[str, Any]]:
        for index in ():
            yield index

    async def create_indexes(self, models: list[Any]) -> list[str]:
        self.calls.append((self.name, [model.document for model in models]))
        return [model.document["name"] for model in models]


async def test_ensure_indexes_creates_each_collections_indexes_in_one_call() -> None:
    db = Database.connect(
        make_settings(mongodb_url="mongodb://127.0.0.1:1", mongodb_timeout_ms=100)
    )
    calls: list[tuple[str, list[Any]]] = []
    db.collection = lambda name: RecordingCollection(name, calls)  # type: ignore[method-assign]
    await db.ensure_indexes()
    await db.ensure_indexes()
    db.close()
    assert [name for name, _ in calls] == ["users", "sessions", "memories"] * 2
    users = calls[0][1]
    assert {"key": {"userId": 1}, "name": "userId_unique", "unique": True} in [
        {k: v for k, v in doc.items() if k in ("key", "name", "unique")} for doc in users
    ]


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
