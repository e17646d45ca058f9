"""Consistency under concurrency: what readers see of a session is always a prefix of its seq
order, deletes and adds racing on one session neither lose new memories nor keep old ones, and
each mutation of a document sees what the ones before it changed."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect

import app.store.child_lists as child_lists
import app.store.sessions as sessions
import app.store.writelock as writelock
from app.auth import OPEN
from app.clock import utc_now
from app.db import Database
from app.store import Store
from tests.support.client import GraphQLClient
from tests.support.data import add_memories, add_session, add_user, memory_contents, raw_documents
from tests.support.stores import make_settings, requires_mongodb


class GatedInserts:
    """Holds the first `insert_many` of the memories collection until `open()`."""

    def __init__(self, api: GraphQLClient, monkeypatch: pytest.MonkeyPatch) -> None:
        collection = api.store.db.memories
        self.insert = collection.insert_many
        self.gate = asyncio.Event()
        self.calls = 0
        monkeypatch.setattr(collection, "insert_many", self.insert_many)

    async def insert_many(self, docs: list[dict[str, Any]], **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            await self.gate.wait()
        return await self.insert(docs, **kwargs)

    def open(self) -> None:
        self.gate.set()


async def settle(until: Any = None, rounds: int = 50) -> None:
    """Let other tasks run: a bounded number of short sleeps, or until `until()` holds."""
    for _ in range(rounds):
        if until is not None and until():
            return
        await asyncio.sleep(0.005)


async def test_memories_become_visible_in_seq_order_when_adds_overlap(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_memories(api, "s", ["m0"])
    inserts = GatedInserts(api, monkeypatch)
    first = asyncio.create_task(add_memories(api, "s", ["a1", "a2"]))
    await settle(lambda: inserts.calls == 1)  # the first call reserved seq 2-3, is inserting
    second = asyncio.create_task(add_memories(api, "s", ["b1"]))
    await settle()
    assert inserts.calls == 1, "the second call inserted while the first one was writing"
    page = await api.data(
        '{ session(sessionId: "s") { memories(last: 10) { edges { node { content } } '
        "pageInfo { endCursor } } } }"
    )
    seen = page["session"]["memories"]
    assert [edge["node"]["content"] for edge in seen["edges"]] == ["m0"]
    inserts.open()
    await asyncio.gather(first, second)
    # A chat view polling for what came after the page it shows misses nothing.
    newer = await memory_contents(api, "s", first=10, after=f'"{seen["pageInfo"]["endCursor"]}"')
    assert newer == ["a1", "a2", "b1"]
    stored = await raw_documents(api, "sessions", sessionId="s")
    assert "writer" not in stored[0]


async def test_a_failed_add_releases_the_session(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_session(api, "s")
    collection = api.store.db.memories

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(collection, "insert_many", broken)
    body = await api.post(
        'mutation { addMemory(input: {sessionId: "s", memories: [{role: "h", content: "x"}]})'
        " { session { id } } }"
    )
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    monkeypatch.undo()
    assert await add_memories(api, "s", ["after"])  # not blocked by a lease left behind
    assert await memory_contents(api, "s") == ["after"]


async def test_a_lock_left_by_a_dead_writer_expires(api: GraphQLClient) -> None:
    await add_session(api, "s")
    past = utc_now() - writelock.LEASE - timedelta(seconds=1)
    await api.store.db.sessions.update_one(
        {"sessionId": "s"}, {"$set": {"writer": "gone", "writerUntil": past}}
    )
    await add_memories(api, "s", ["still works"])
    assert await memory_contents(api, "s") == ["still works"]


async def test_deleting_a_session_waits_for_an_add_in_flight_and_deletes_its_memories(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_memories(api, "s", ["m0"])
    inserts = GatedInserts(api, monkeypatch)
    adding = asyncio.create_task(add_memories(api, "s", ["in flight"]))
    await settle(lambda: inserts.calls == 1)
    deleting = asyncio.create_task(
        api.data('mutation { deleteSession(sessionId: "s") { deletedId } }')
    )
    await settle()
    assert not deleting.done()
    inserts.open()
    await asyncio.gather(adding, deleting)
    stored = await raw_documents(api, "memories", sessionId="s")
    assert len(stored) == 2
    assert all(doc.get("deletedAt") for doc in stored)


async def test_an_add_during_a_delete_waits_for_it_and_survives_it_whatever_the_clocks(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An addMemory from a process whose clock is an hour behind arrives while deleteSession
    marks the memories: it waits for the delete, then undeletes the session, and its memory
    stays (the delete covered the memories by seq, not by time)."""
    await add_memories(api, "s", ["old"])
    memories = api.store.db.memories
    cascade = memories.update_many
    adding: list[asyncio.Task[Any]] = []

    async def add_during_cascade(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(sessions, "utc_now", lambda: utc_now() - timedelta(hours=1))
        adding.append(asyncio.create_task(api.store.memories.add("s", [new_memory("new")])))
        await settle()
        assert not adding[0].done(), "the add did not wait for the delete"
        return await cascade(*args, **kwargs)

    monkeypatch.setattr(memories, "update_many", add_during_cascade)
    await api.data('mutation { deleteSession(sessionId: "s") { deletedId } }')
    await adding[0]
    monkeypatch.undo()
    assert await memory_contents(api, "s") == ["new"]
    old = await raw_documents(api, "memories", sessionId="s", content="old")
    assert old[0].get("deletedAt")


def new_memory(content: str) -> Any:
    from app.store.memories import NewMemory

    return NewMemory(role="h", content=content)


async def test_delete_memories_leaves_memories_added_after_it(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_memories(api, "s", ["old"])
    memories = api.store.db.memories
    cascade = memories.update_many
    adding: list[asyncio.Task[Any]] = []

    async def add_during_cascade(*args: Any, **kwargs: Any) -> Any:
        adding.append(asyncio.create_task(api.store.memories.add("s", [new_memory("new")])))
        await settle()
        return await cascade(*args, **kwargs)

    monkeypatch.setattr(memories, "update_many", add_during_cascade)
    data = await api.data('mutation { deleteMemories(sessionId: "s") { deletedCount } }')
    await adding[0]
    monkeypatch.undo()
    assert data["deleteMemories"]["deletedCount"] == 1
    assert await memory_contents(api, "s") == ["new"]


async def test_delete_user_cascades_by_position_not_by_clock(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_user(api, "u")
    for session in ("s1", "s2"):
        await add_session(api, session, userId="u")
        await add_memories(api, session, [f"{session}-old"])
    # Memories written by a process whose clock runs an hour ahead are still part of the user.
    with monkeypatch.context() as clock:
        clock.setattr(sessions, "utc_now", lambda: utc_now() + timedelta(hours=1))
        await add_memories(api, "s2", ["from the future"])
    await api.data('mutation { deleteUser(userId: "u") { deletedId } }')
    stored = await raw_documents(api, "memories")
    assert len(stored) == 3
    assert all(doc.get("deletedAt") for doc in stored)


def crafted_cursor(payload: str) -> str:
    checksum = hashlib.sha256(payload.encode()).hexdigest()[:10]
    return base64.urlsafe_b64encode(f"{payload}:{checksum}".encode()).decode().rstrip("=")


@pytest.mark.parametrize("seq", [2**63, 2**70, -1])
async def test_a_cursor_outside_the_64_bit_range_is_bad_user_input(
    api: GraphQLClient, seq: int
) -> None:
    await add_memories(api, "s", ["m"])
    error = await api.error(
        'query($c: String!) { session(sessionId: "s") { memories(after: $c) { totalCount } } }',
        {"c": crafted_cursor(f"memory:{seq}")},
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


@pytest.mark.parametrize(
    "payload",
    ["memory: 1", "memory:1 ", "memory:01", "memory:+1", "memory:\u0661", "memory:1_0"],
    ids=["leading-space", "trailing-space", "leading-zero", "plus", "arabic-digit", "underscore"],
)
async def test_a_cursor_not_in_its_canonical_form_is_bad_user_input(
    api: GraphQLClient, payload: str
) -> None:
    """Python's int() reads each of these as a number; only the form memql writes is a cursor."""
    await add_memories(api, "s", ["m", "n"])
    error = await api.error(
        'query($c: String!) { session(sessionId: "s") { memories(after: $c) { totalCount } } }',
        {"c": crafted_cursor(payload)},
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


async def test_a_session_cursor_with_a_non_hex_object_id_is_bad_user_input(
    api: GraphQLClient,
) -> None:
    """bson reads any 12-byte string as an ObjectId; a cursor carries its 24 hex digits."""
    await add_session(api, "s")
    error = await api.error(
        "query($c: String!) { sessions(after: $c) { totalCount } }",
        {"c": crafted_cursor("session:0:abcdefghijkl")},
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


async def test_update_memory_filters_on_the_session_id_the_shard_key(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    (memory,) = await add_memories(api, "s", ["m"])
    memories = api.store.db.memories
    update = memories.find_one_and_update
    filters: list[dict[str, Any]] = []

    async def recording(match: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        filters.append(match)
        return await update(match, *args, **kwargs)

    monkeypatch.setattr(memories, "find_one_and_update", recording)
    for patch in ({"a": 1}, {}):
        await api.data(
            "mutation($id: ID!, $m: JSON!) { updateMemory(input: {id: $id, metadata: $m})"
            " { memory { id } } }",
            {"id": memory["id"], "m": patch},
        )
    assert len(filters) == 2
    assert all(match["sessionId"] == "s" for match in filters)


async def test_each_mutation_of_a_document_sees_what_the_ones_before_it_changed(
    api: GraphQLClient,
) -> None:
    await add_user(api, "u")
    await add_session(api, "s", userId="u")
    (memory,) = await add_memories(api, "s", ["m"])
    selection = "{ memory { session { metadata user { metadata } } } }"
    data = await api.data(
        "mutation($id: ID!) {"
        f"  before: updateMemory(input: {{id: $id, metadata: {{x: 1}}}}) {selection}"
        '  s: updateSession(input: {sessionId: "s", metadata: {changed: true}}) { session { id } }'
        '  u: updateUser(input: {userId: "u", metadata: {changed: true}}) { user { id } }'
        f"  after: updateMemory(input: {{id: $id, metadata: {{y: 2}}}}) {selection}"
        "}",
        {"id": memory["id"]},
    )
    assert data["before"]["memory"]["session"] == {"metadata": {}, "user": {"metadata": {}}}
    assert data["after"]["memory"]["session"] == {
        "metadata": {"changed": True},
        "user": {"metadata": {"changed": True}},
    }


@requires_mongodb
async def test_per_parent_aggregates_run_a_bounded_number_at_a_time(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MongoDB's plan reads the parents' pages in aggregates of UNION_BATCH parents each; a
    level of thousands of parents does not take the whole connection pool at once."""
    monkeypatch.setattr(child_lists, "UNION_BATCH", 2)
    await add_user(api, "u")
    for index in range(40):
        await add_session(api, f"s{index}", userId="u")
    collection = api.store.db.memories
    aggregate = collection.aggregate
    running = peak = calls = 0

    class Tracked:
        def __init__(self, pipeline: list[dict[str, Any]]) -> None:
            self.pipeline = pipeline

        async def to_list(self, length: int | None) -> list[dict[str, Any]]:
            nonlocal running, peak, calls
            running += 1
            calls += 1
            peak = max(peak, running)
            try:
                await asyncio.sleep(0.001)
                found: list[dict[str, Any]] = await aggregate(self.pipeline).to_list(length)
                return found
            finally:
                running -= 1

    monkeypatch.setattr(collection, "aggregate", Tracked)
    data = await api.data(
        '{ user(userId: "u") { sessions(first: 50) { edges { node { '
        "memories(first: 1) { edges { cursor } } } } } } }"
    )
    assert len(data["user"]["sessions"]["edges"]) == 40
    assert calls == 20
    assert 1 < peak <= child_lists.PER_PARENT_CONCURRENCY


def datetimes_in(value: Any) -> list[Any]:
    if isinstance(value, datetime):
        return [value]
    if isinstance(value, dict):
        return [found for item in value.values() for found in datetimes_in(item)]
    if isinstance(value, list | tuple):
        return [found for item in value for found in datetimes_in(item)]
    return []


class RecordingSessions:
    """A sessions collection on MongoDB that records the lease's commands and grants it."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], Any]] = []
        self.session = {"_id": ObjectId(), "sessionId": "s", "memorySeq": 1}

    async def find_one_and_update(
        self, match: dict[str, Any], update: Any, **kwargs: Any
    ) -> dict[str, Any]:
        self.calls.append((match, update))
        return {**self.session, "createdAt": utc_now(), "updatedAt": utc_now()}

    async def update_one(self, match: dict[str, Any], update: Any, **kwargs: Any) -> Any:
        self.calls.append((match, update))
        return type("Result", (), {"matched_count": 1})()


async def test_the_write_lease_is_measured_by_the_database_clock_not_this_hosts() -> None:
    """A host whose clock runs 10 s ahead would take every lease for expired, and one behind
    would wait on a lease long gone: MongoDB's $$NOW is the one clock of every process."""
    db = Database.connect(make_settings(mongodb_url="mongodb://127.0.0.1:1"))
    sessions_collection = RecordingSessions()
    db.sessions = sessions_collection  # type: ignore[assignment]
    inserted: list[Any] = []

    async def insert_many(docs: list[dict[str, Any]], **kwargs: Any) -> None:
        inserted.extend(docs)

    db.memories = type("Memories", (), {"insert_many": staticmethod(insert_many)})()
    await Store(db).for_viewer(OPEN).memories.add("s", [new_memory("m")])
    db.close()
    ((lease_filter, lease_update), (release_filter, _)) = sessions_collection.calls
    # No reading of this host's clock in the filter (a constant such as the epoch may be).
    assert [when for when in datetimes_in(lease_filter) if when.year > 2000] == []
    assert "$$NOW" in repr(lease_filter)
    assert isinstance(lease_update, list), "a pipeline update, which can read $$NOW"
    (writer_until,) = [
        stage["$set"]["writerUntil"]
        for stage in lease_update
        if "writerUntil" in stage.get("$set", {})
    ]
    assert writer_until == {"$add": ["$$NOW", 10_000]}
    assert release_filter["writer"] is not None and len(inserted) == 1


async def run_out_the_lease(api: GraphQLClient, session_id: str) -> None:
    """The writer holding the session stalls past its lease: as if LEASE had passed, on
    whichever clock the store measures it by."""
    await api.store.db.sessions.update_one(
        {"sessionId": session_id}, {"$set": {"writerUntil": utc_now() - timedelta(minutes=1)}}
    )


async def test_a_writer_that_outlived_its_lease_knows_and_a_delete_meanwhile_covers_it(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An addMemory stalls past its lease (a failover, a pause) between reserving its seq and
    inserting; deleteSession goes ahead. The late memory must not outlive the session live."""
    await add_memories(api, "s", ["m0"])
    inserts = GatedInserts(api, monkeypatch)
    adding = asyncio.create_task(add_memories(api, "s", ["late"]))
    await settle(lambda: inserts.calls == 1)
    await run_out_the_lease(api, "s")
    await api.data('mutation { deleteSession(sessionId: "s") { deletedId } }')
    inserts.open()
    await adding
    stored = await raw_documents(api, "memories", sessionId="s")
    assert sorted(doc["content"] for doc in stored) == ["late", "m0"]
    assert all(doc.get("deletedAt") for doc in stored), stored
    assert "held its write lease past 10 s" in caplog.text


async def test_memories_written_late_are_deleted_when_delete_memories_went_ahead(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_memories(api, "s", ["m0"])
    inserts = GatedInserts(api, monkeypatch)
    adding = asyncio.create_task(add_memories(api, "s", ["late"]))
    await settle(lambda: inserts.calls == 1)
    await run_out_the_lease(api, "s")
    data = await api.data('mutation { deleteMemories(sessionId: "s") { deletedCount } }')
    assert data["deleteMemories"]["deletedCount"] == 1
    inserts.open()
    await adding
    assert await memory_contents(api, "s") == []
    await add_memories(api, "s", ["after"])
    assert await memory_contents(api, "s") == ["after"]


async def test_a_lost_lease_without_a_delete_keeps_the_memories(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await add_memories(api, "s", ["m0"])
    inserts = GatedInserts(api, monkeypatch)
    adding = asyncio.create_task(add_memories(api, "s", ["slow"]))
    await settle(lambda: inserts.calls == 1)
    await run_out_the_lease(api, "s")
    await add_memories(api, "s", ["fast"])  # takes the lease that ran out
    inserts.open()
    await adding
    assert await memory_contents(api, "s") == ["m0", "slow", "fast"]
    assert "no delete covered them" in caplog.text


async def test_a_session_held_too_long_answers_a_retryable_session_busy(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_memories(api, "s", ["m0"])
    await api.store.db.sessions.update_one(
        {"sessionId": "s"},
        {"$set": {"writer": ObjectId(), "writerUntil": utc_now() + timedelta(hours=1)}},
    )
    monkeypatch.setattr(writelock, "WAIT_SECONDS", 0.1)
    error = await api.error(
        'mutation { addMemory(input: {sessionId: "s", memories: [{role: "h", content: "x"}]})'
        " { session { id } } }"
    )
    assert error["extensions"]["code"] == "SESSION_BUSY"
    assert "'s' is busy" in error["message"] and "send the request again" in error["message"]
    assert await memory_contents(api, "s") == ["m0"]


class Failover:
    """The first `update_many` of a collection fails as a primary stepping down mid-write does:
    a multi-document update is not retryable, so the driver raises."""

    def __init__(self, collection: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.update_many = collection.update_many
        self.cuts = 1
        monkeypatch.setattr(collection, "update_many", self.cut_once)

    async def cut_once(self, *args: Any, **kwargs: Any) -> Any:
        if self.cuts:
            self.cuts -= 1
            raise AutoReconnect("connection closed: the primary stepped down")
        return await self.update_many(*args, **kwargs)


async def all_deleted(api: GraphQLClient, collection: str, **match: Any) -> bool:
    stored = await raw_documents(api, collection, **match)
    return bool(stored) and all(doc.get("deletedAt") for doc in stored)


@pytest.mark.parametrize("cut", ["memories", "sessions"])
async def test_a_delete_session_cut_by_a_failover_is_finished_by_its_retry(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch, cut: str
) -> None:
    await add_memories(api, "s", ["a", "b"])
    Failover(api.store.db.collection(cut), monkeypatch)
    delete = 'mutation { deleteSession(sessionId: "s") { deletedId } }'
    assert (await api.error(delete))["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    assert (await api.data(delete))["deleteSession"]["deletedId"]
    assert await all_deleted(api, "memories", sessionId="s")
    assert await all_deleted(api, "sessions", sessionId="s")


@pytest.mark.parametrize("cut", ["memories", "sessions"])
async def test_a_delete_user_cut_by_a_failover_is_finished_by_its_retry(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch, cut: str
) -> None:
    await add_user(api, "u")
    for session in ("s1", "s2"):
        await add_session(api, session, userId="u")
        await add_memories(api, session, [f"{session}-a", f"{session}-b"])
    Failover(api.store.db.collection(cut), monkeypatch)
    delete = 'mutation { deleteUser(userId: "u") { deletedId } }'
    assert (await api.error(delete))["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    assert (await api.data(delete))["deleteUser"]["deletedId"]
    assert await all_deleted(api, "memories")
    assert await all_deleted(api, "sessions")
    assert await all_deleted(api, "users")


async def test_a_session_added_while_its_user_is_deleted_is_deleted_with_it(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_user(api, "u")
    await add_session(api, "s1", userId="u")
    await add_memories(api, "s1", ["a"])
    memories = api.store.db.memories
    cascade = memories.update_many
    added: list[str] = []

    async def add_then_cascade(*args: Any, **kwargs: Any) -> Any:
        if not added:
            added.append((await add_session(api, "s2", userId="u"))["sessionId"])
        return await cascade(*args, **kwargs)

    monkeypatch.setattr(memories, "update_many", add_then_cascade)
    await api.data('mutation { deleteUser(userId: "u") { deletedId } }')
    assert added == ["s2"]
    assert await all_deleted(api, "sessions")
