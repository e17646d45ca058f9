"""The database module: one client, the embedded store's warning, idempotent indexes."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from app.call_counting import CountingCollection
from app.db import Database, index_specs
from tests.conftest import make_settings, requires_mongodb, running_app
from tests.fake_mongodb import FakeMongoClient

MotorClient = AsyncIOMotorClient[dict[str, Any]]


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


async def test_ensure_indexes_creates_each_collections_indexes_in_one_call() -> None:
    server = FakeMongoClient()
    db = Database(cast(MotorClient, server), "memql", embedded=False, purge_after_seconds=3600)
    await db.ensure_indexes()
    created_at_first = list(server.created)
    await db.ensure_indexes()
    calls = [
        (collection, body["indexes"])
        for name, collection, body in server.commands
        if name == "createIndexes"
    ]
    assert [name for name, _ in calls] == ["users", "sessions", "memories"] * 2
    users = calls[0][1]
    assert {"key": {"userId": 1}, "name": "userId_unique", "unique": True} in [
        {k: v for k, v in doc.items() if k in ("key", "name", "unique")} for doc in users
    ]
    # Idempotent: the second start-up lists what the first created and creates nothing.
    specs = index_specs(embedded=False, purge_after_seconds=3600)
    assert sorted(created_at_first) == sorted((spec.collection, spec.name) for spec in specs)
    assert server.created == created_at_first


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
    async with running_app() as api:
        # The suite really runs against a MongoDB deployment memql can write to.
        assert not api.store.db.embedded
        hello = await api.store.db.client.admin.command("hello")
        assert hello["isWritablePrimary"], hello
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
