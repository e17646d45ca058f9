"""TTL indexes on `deletedAt`: created at start-up on MongoDB, changed with collMod when the grace
period changes, never dropped; none on the embedded store."""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import monitoring

from app.db import Database
from app.indexes import index_specs
from tests.fake_mongo import Command, FakeMongoClient
from tests.support.client import running_app
from tests.support.data import add_memories, add_session, add_user
from tests.support.stores import TEST_MONGODB_URL, make_settings, requires_mongodb

COLLECTIONS = ("users", "sessions", "memories")
INDEX_COMMANDS = frozenset({"listIndexes", "createIndexes", "collMod", "dropIndexes"})


def test_mongodb_gets_a_ttl_index_on_deleted_at_of_every_collection() -> None:
    ttl = [
        (spec.collection, spec.keys, spec.name, spec.expire_after_seconds)
        for spec in index_specs(embedded=False, purge_after_seconds=90)
        if spec.expire_after_seconds is not None
    ]
    assert ttl == [(name, (("deletedAt", 1),), "deletedAt_ttl", 90) for name in COLLECTIONS]


def test_the_embedded_store_gets_no_ttl_index() -> None:
    assert index_specs(embedded=True, purge_after_seconds=90) == []


class CommandRecorder(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[Command] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in INDEX_COMMANDS:
            name = event.command_name
            self.commands.append((name, event.command[name], copy.deepcopy(dict(event.command))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class Server:
    """A MongoDB to start memql against: the recording fake, or a real one."""

    def __init__(self, client: Any, commands: list[Command]) -> None:
        self.client = client
        self.commands = commands
        self.database = f"memql_test_{uuid.uuid4().hex[:12]}"

    async def start_memql(self, purge_after_seconds: int) -> list[Command]:
        """What memql's start-up does to the indexes; returns the commands it issued."""
        seen = len(self.commands)
        db = Database(
            self.client, self.database, embedded=False, purge_after_seconds=purge_after_seconds
        )
        await db.ensure_indexes()
        return self.commands[seen:]

    async def ttl_indexes(self) -> dict[str, int | None]:
        found: dict[str, int | None] = {}
        for name in COLLECTIONS:
            async for index in self.client[self.database][name].list_indexes():
                if dict(index["key"]) == {"deletedAt": 1}:
                    found[f"{name}.{index['name']}"] = index.get("expireAfterSeconds")
        return found


@pytest.fixture(params=["fake", pytest.param("mongodb", marks=requires_mongodb)])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    if request.param == "fake":
        fake = FakeMongoClient()
        yield Server(fake, fake.commands)
        return
    recorder = CommandRecorder()
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(
        TEST_MONGODB_URL, tz_aware=True, event_listeners=[recorder]
    )
    real = Server(client, recorder.commands)
    try:
        yield real
    finally:
        await client.drop_database(real.database)
        client.close()


def ttl_indexes_created(commands: list[Command]) -> Iterator[tuple[str, str, int]]:
    for name, collection, body in commands:
        if name == "createIndexes":
            for index in body["indexes"]:
                if dict(index["key"]) == {"deletedAt": 1}:
                    yield collection, index["name"], index["expireAfterSeconds"]


def names(commands: list[Command]) -> set[str]:
    return {name for name, _, _ in commands}


async def test_start_up_creates_ttl_indexes_with_the_grace_period(server: Server) -> None:
    commands = await server.start_memql(purge_after_seconds=3600)

    assert sorted(ttl_indexes_created(commands)) == sorted(
        (name, "deletedAt_ttl", 3600) for name in COLLECTIONS
    )
    assert "collMod" not in names(commands)
    assert await server.ttl_indexes() == {f"{name}.deletedAt_ttl": 3600 for name in COLLECTIONS}


async def test_restarting_with_the_same_grace_period_changes_nothing(server: Server) -> None:
    await server.start_memql(purge_after_seconds=3600)
    commands = await server.start_memql(purge_after_seconds=3600)

    assert list(ttl_indexes_created(commands)) == []
    assert names(commands) == {"listIndexes"}  # every index found: nothing sent to create
    assert await server.ttl_indexes() == {f"{name}.deletedAt_ttl": 3600 for name in COLLECTIONS}


async def test_a_changed_grace_period_is_applied_with_coll_mod_never_by_dropping(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    await server.start_memql(purge_after_seconds=3600)
    caplog.set_level(logging.INFO, logger="memql.db")
    commands = await server.start_memql(purge_after_seconds=120)

    # Only the fields memql sends: pymongo adds $db, lsid and $clusterTime to what it sends.
    coll_mods = [
        {"collMod": body["collMod"], "index": body["index"]}
        for name, _, body in commands
        if name == "collMod"
    ]
    assert sorted(coll_mods, key=lambda body: str(body["collMod"])) == [
        {"collMod": name, "index": {"name": "deletedAt_ttl", "expireAfterSeconds": 120}}
        for name in sorted(COLLECTIONS)
    ]
    assert list(ttl_indexes_created(commands)) == []
    assert "dropIndexes" not in names(commands)
    assert await server.ttl_indexes() == {f"{name}.deletedAt_ttl": 120 for name in COLLECTIONS}
    logged = caplog.text
    for name in COLLECTIONS:
        assert f"changed TTL index {name}.deletedAt_ttl with collMod" in logged
    assert "3600 -> 120" in logged


async def test_without_the_coll_mod_privilege_start_up_goes_on_and_says_which_role(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The built-in readWrite role has no collMod: hosted MongoDB users often have only it."""
    fake = FakeMongoClient()
    await Server(fake, fake.commands).start_memql(purge_after_seconds=3600)
    fake.may_coll_mod = False
    caplog.set_level(logging.INFO, logger="memql.db")
    db = Database(fake, "memql", embedded=False, purge_after_seconds=120)  # type: ignore[arg-type]
    report = await db.ensure_indexes()

    (warning,) = report.warnings
    assert "collMod" in warning and "readWrite" in warning and "dbAdmin" in warning
    assert "120" in warning and "3600 s" in warning
    warned = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert [record.getMessage() for record in warned] == [warning]


async def test_start_up_logs_the_ttl_indexes_it_creates(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="memql.db")
    await server.start_memql(purge_after_seconds=3600)
    for name in COLLECTIONS:
        assert f"created TTL index {name}.deletedAt_ttl" in caplog.text


async def test_the_embedded_store_ends_up_with_no_ttl_index() -> None:
    async with running_app(make_settings(mongodb_url=None)) as api:
        await add_user(api, "alice")
        await add_session(api, "s1", userId="alice")
        await add_memories(api, "s1", ["a", "b"])
        await api.data('mutation { deleteUser(userId: "alice") { deletedId } }')
        for name in COLLECTIONS:
            indexes = [index async for index in api.store.db.collection(name).list_indexes()]
            assert [index["name"] for index in indexes] == ["_id_"]
            assert not any("expireAfterSeconds" in index for index in indexes)
