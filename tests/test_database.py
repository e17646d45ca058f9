"""The database module: one client, the embedded store's warning, idempotent indexes."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from app.call_counting import CountingCollection
from app.db import Database
from app.indexes import IndexSpec, index_specs
from tests.fake_mongo import FakeMongoClient
from tests.support.client import SECRET, GraphQLClient, running_app, token_for
from tests.support.data import add_memories, add_session, add_user
from tests.support.stores import make_settings, requires_mongodb


def test_embedded_store_gets_no_index_that_would_make_it_scan() -> None:
    assert index_specs(embedded=True, purge_after_seconds=3600) == []


def test_mongodb_gets_the_indexes_of_the_spec() -> None:
    specs = {
        (spec.collection, spec.keys, spec.unique, spec.expire_after_seconds)
        for spec in index_specs(embedded=False, purge_after_seconds=3600)
    }
    assert specs == {
        ("users", (("userId", 1),), True, None),
        ("users", (("deletedAt", 1), ("createdAt", 1), ("_id", 1)), False, None),
        ("sessions", (("sessionId", 1),), True, None),
        ("sessions", (("deletedAt", 1), ("createdAt", 1), ("_id", 1)), False, None),
        ("sessions", (("userId", 1), ("deletedAt", 1), ("createdAt", 1), ("_id", 1)), False, None),
        ("memories", (("sessionId", 1), ("deletedAt", 1), ("seq", 1)), False, None),
        ("memories", (("searchTerms", 1), ("sessionId", 1), ("deletedAt", 1)), False, None),
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
async def test_start_up_on_mongodb_makes_every_index_and_a_second_run_finds_them() -> None:
    async with running_app() as api:
        db = api.store.db
        # A MongoDB server answered, not mongomock (whose client is another class).
        assert type(db.client) is AsyncIOMotorClient and not db.embedded
        assert (await db.client.admin.command("hello"))["ok"] == 1
        report = await db.ensure_indexes()
        specs = index_specs(embedded=False, purge_after_seconds=db.purge_after_seconds)
        assert (report.created, report.changed, report.warnings) == ([], [], [])
        assert sorted(report.found) == sorted(f"{spec.collection}.{spec.name}" for spec in specs)
        for spec in specs:
            indexes = [index async for index in db.collection(spec.collection).list_indexes()]
            (index,) = [index for index in indexes if spec.has_keys_of(index)]
            assert spec.shortfalls(index) == []


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


QUERY_METHODS = (
    "find",
    "find_one",
    "count_documents",
    "aggregate",
    "update_many",
    "update_one",
    "find_one_and_update",
)
ORDER = {"users": ("createdAt", "_id"), "sessions": ("createdAt", "_id"), "memories": ("seq",)}


def equality_fields(match: dict[str, Any]) -> set[str]:
    return {
        name
        for name, value in match.items()
        if not name.startswith("$") and (not isinstance(value, dict) or set(value) <= {"$in"})
    }


def walks_only_live_entries(collection: str, match: dict[str, Any]) -> bool:
    """Whether an index gives `match` bounds that exclude soft-deleted documents: one whose
    leading keys are the query's equality fields, deletedAt among them, followed by the list's
    sort keys (MongoDB's equality-sort-range rule); or a unique index it looks one key up in."""
    eq = equality_fields(match)
    specs = [
        IndexSpec(collection, (("_id", 1),), "_id_", unique=True),
        *(
            spec
            for spec in index_specs(embedded=False, purge_after_seconds=3600)
            if spec.collection == collection and spec.expire_after_seconds is None
        ),
    ]
    for spec in specs:
        keys = [name for name, _ in spec.keys]
        if spec.unique and set(keys) <= eq:
            return True
        order = ORDER[collection]
        if set(keys[: len(eq)]) == eq and tuple(keys[len(eq) :][: len(order)]) == order:
            return True
    return False


@pytest.mark.parametrize(
    "union",
    # mongomock has no `$unionWith`: the plan memql makes for MongoDB runs there only.
    [False, pytest.param(True, marks=requires_mongodb)],
    ids=["per-parent", "union"],
)
async def test_every_query_for_live_documents_walks_only_live_index_entries(
    monkeypatch: pytest.MonkeyPatch, union: bool
) -> None:
    """Counts and pages must not read each soft-deleted document until it is purged."""
    queries: list[tuple[str, dict[str, Any]]] = []
    async with running_app(make_settings(auth_secret=SECRET)) as anonymous:
        admin = anonymous.with_token(token_for())
        alice = anonymous.with_token(token_for("alice"))
        admin.store.db.unions = union
        for name in ("users", "sessions", "memories"):
            collection = admin.store.db.collection(name)
            for method in QUERY_METHODS:
                monkeypatch.setattr(
                    collection, method, recording(name, getattr(collection, method), queries)
                )
        await add_user(admin, "alice")
        for session in ("s1", "s2"):
            await add_session(admin, session, userId="alice")
            await add_memories(admin, session, ["a", "b", "c"])
        nested = (
            "{ users(first: 5) { totalCount edges { node { sessions(first: 5) { totalCount"
            " edges { node { memories(last: 2) { totalCount pageInfo { hasPreviousPage } } } }"
            " } } } } }"
        )
        for caller in (admin, alice):
            await caller.data(nested)
            await caller.data(
                "{ sessions(first: 1) { totalCount pageInfo { endCursor } } s: session(sessionId:"
                ' "s1") { memories(first: 1) { totalCount pageInfo { endCursor } } } }'
            )
        page = await admin.data(
            '{ session(sessionId: "s1") { memories(first: 1) { pageInfo { endCursor } } } }'
        )
        cursor = page["session"]["memories"]["pageInfo"]["endCursor"]
        await admin.data(
            f'{{ session(sessionId: "s1") {{ memories(first: 1, after: "{cursor}") {{ totalCount'
            f' pageInfo {{ hasPreviousPage }} }} b: memories(last: 1, before: "{cursor}")'
            " { totalCount } } }"
        )
        await admin.data('mutation { deleteMemories(sessionId: "s1") { deletedCount } }')
        await admin.data('mutation { deleteSession(sessionId: "s1") { deletedId } }')
        await admin.data('mutation { deleteUser(userId: "alice") { deletedId } }')

    live = [
        (collection, clause)
        for collection, match in queries
        for clause in ([match] if "$or" not in match or "deletedAt" in match else match["$or"])
        if "deletedAt" in equality_fields(clause)
    ]
    assert {collection for collection, _ in live} == {"users", "sessions", "memories"}
    unserved = [query for query in live if not walks_only_live_entries(*query)]
    assert unserved == [], "\n".join(map(repr, unserved))


def recording(collection: str, method: Any, queries: list[tuple[str, dict[str, Any]]]) -> Any:
    def call(match: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(match, list):  # aggregate's pipeline, and those of its `$unionWith`s
            pipelines = [match] + [
                stage["$unionWith"]["pipeline"] for stage in match if "$unionWith" in stage
            ]
            queries.extend((collection, pipeline[0].get("$match", {})) for pipeline in pipelines)
        else:
            queries.append((collection, match))
        return method(match, *args, **kwargs)

    return call


async def test_indexes_memql_does_not_use_are_listed_and_left_alone() -> None:
    server = FakeMongoClient()
    server.add_index("sessions", {"createdAt": 1, "_id": 1}, "createdAt_id")
    report = await fake_database(server).ensure_indexes()
    assert report.unused == ["sessions.createdAt_id"]
    assert "not used by memql: sessions.createdAt_id" in report.lines()
    assert not [name for name, _, _ in server.commands if name == "dropIndexes"]


async def test_no_collection_or_database_may_be_tested_for_truth_on_either_store(
    api: GraphQLClient,
) -> None:
    """pymongo refuses `bool()` of a Collection or a Database; the embedded store refuses it
    too, so code that truth-tests one (`x or y`, an `if` on the object alone) fails every
    embedded test, not only on MongoDB (where `Database.collection` once failed at start-up
    for it)."""
    db = api.store.db
    for driver_object in (db.users, db.sessions, db.memories, db.collection("memories"), db.db):
        with pytest.raises(NotImplementedError, match="truth value testing"):
            bool(driver_object)
