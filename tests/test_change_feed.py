"""On MongoDB, live updates come from one change stream per process (resumed where it stopped)
or, where change streams are unavailable, from polling. No MongoDB runs here: the stream is a
fake that replays change events as MongoDB sends them, and polling reads the embedded store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from app.auth import OPEN, Viewer
from app.broadcaster import Broadcaster, Subscription
from app.db import Collection, Database
from app.store import Store, change_feed
from app.store.change_feed import PIPELINE, ChangeFeed, PollingFeed
from app.store.memories import NewMemory
from tests.support.stores import make_settings

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def memory_inserted(token: int, session_id: str, seq: int) -> dict[str, Any]:
    return {
        "_id": {"_data": f"token-{token}"},
        "operationType": "insert",
        "ns": {"db": "memql", "coll": "memories"},
        "documentKey": {"_id": f"uuid-{session_id}-{seq}"},
        "fullDocument": {
            "_id": f"uuid-{session_id}-{seq}",
            "sessionId": session_id,
            "seq": seq,
            "role": "human",
            "roleType": None,
            "content": f"{session_id} #{seq}",
            "metadata": {},
            "createdAt": NOW,
            "updatedAt": NOW,
        },
    }


def session_updated(token: int, session_id: str, **updated: Any) -> dict[str, Any]:
    return {
        "_id": {"_data": f"token-{token}"},
        "operationType": "update",
        "ns": {"db": "memql", "coll": "sessions"},
        "updateDescription": {"updatedFields": {"updatedAt": NOW, **updated}, "removedFields": []},
        "fullDocument": {"sessionId": session_id, "userId": updated.get("userId")},
    }


Script = list[Mapping[str, Any] | BaseException]


class FakeStream:
    """motor's change stream over scripted events and failures; once the script is done it
    waits, as a stream with nothing new does."""

    def __init__(self, script: Script) -> None:
        self.script = list(script)

    async def __aenter__(self) -> FakeStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pass

    def __aiter__(self) -> FakeStream:
        return self

    async def __anext__(self) -> Mapping[str, Any]:
        if not self.script:
            await asyncio.Event().wait()
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item


class FakeWatch:
    """`Database.db.watch`: each call opens the next scripted stream, its options recorded."""

    def __init__(self, *scripts: Script) -> None:
        self.scripts = list(scripts)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, pipeline: list[dict[str, Any]], **options: Any) -> FakeStream:
        self.calls.append({"pipeline": pipeline, **options})
        return FakeStream(self.scripts.pop(0) if self.scripts else [])


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    database = Database.connect(make_settings())
    yield database
    database.close()


async def eventually(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.005)


def contents(subscription: Subscription) -> list[str]:
    return [memory.content for memory in subscription.pending]


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(change_feed, "RETRY_FIRST_SECONDS", 0.001)


async def test_change_events_reach_the_subscribers_of_their_session(db: Database) -> None:
    broadcaster = Broadcaster(buffer=100)
    alice = Viewer(admin=False, user_id="alice")
    watched = broadcaster.subscribe("s1", lambda user: user == alice.user_id)
    other = broadcaster.subscribe("s2")
    watch = FakeWatch(
        [
            memory_inserted(1, "s1", 1),
            memory_inserted(2, "s3", 1),
            memory_inserted(3, "s1", 2),
            session_updated(4, "s1", userId="bob"),
            session_updated(5, "s2", deletedAt=NOW),
        ]
    )
    feed = ChangeFeed(watch, db.memories, db.sessions, broadcaster, poll_seconds=1)
    feed.start()
    try:
        await eventually(lambda: other.ended and watched.ended)
    finally:
        await feed.stop()
    assert contents(watched) == ["s1 #1", "s1 #2"]
    assert feed.resume_token == {"_data": "token-5"}
    [call] = watch.calls
    assert call == {"pipeline": PIPELINE, "full_document": "updateLookup", "resume_after": None}


async def test_the_stream_reopens_where_it_stopped_after_a_failure(db: Database) -> None:
    broadcaster = Broadcaster(buffer=100)
    subscription = broadcaster.subscribe("s1")
    watch = FakeWatch(
        [memory_inserted(1, "s1", 1), memory_inserted(2, "s1", 2), AutoReconnect("gone")],
        [memory_inserted(3, "s1", 3)],
    )
    feed = ChangeFeed(watch, db.memories, db.sessions, broadcaster, poll_seconds=1)
    feed.start()
    try:
        await eventually(lambda: len(subscription.pending) == 3)
    finally:
        await feed.stop()
    assert [call["resume_after"] for call in watch.calls] == [None, {"_data": "token-2"}]
    assert not subscription.stale


async def test_a_stream_that_cannot_resume_starts_afresh_and_subscribers_read_again(
    db: Database,
) -> None:
    broadcaster = Broadcaster(buffer=100)
    subscription = broadcaster.subscribe("s1")
    watch = FakeWatch(
        [memory_inserted(1, "s1", 1), AutoReconnect("gone")],
        [OperationFailure("resume point no longer in the oplog", code=286)],
        [memory_inserted(7, "s1", 5)],
    )
    feed = ChangeFeed(watch, db.memories, db.sessions, broadcaster, poll_seconds=1)
    feed.start()
    try:
        await eventually(lambda: len(subscription.pending) == 2)
    finally:
        await feed.stop()
    resumed = [call["resume_after"] for call in watch.calls]
    assert resumed == [None, {"_data": "token-1"}, None]
    assert subscription.stale


async def follower_of(store: Store, session_id: str) -> AsyncIterator[str]:
    follower = await store.for_viewer(OPEN).memories.follow(session_id)
    async for memory in follower:
        yield memory.content


async def test_without_change_streams_the_feed_polls_the_watched_sessions(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A standalone mongod answers a change stream with code 40573: the feed polls instead,
    and a follower misses nothing, not even what was added before the first poll."""
    store = Store(db)
    store.publisher = None  # as on MongoDB: only the feed publishes
    writer = store.for_viewer(OPEN).memories
    await writer.add("chat", [NewMemory("human", "before")])
    unsupported = OperationFailure(
        "The $changeStream stage is only supported on replica sets", code=40573
    )
    feed = ChangeFeed(
        FakeWatch([unsupported]), db.memories, db.sessions, store.broadcaster, poll_seconds=0.01
    )
    received: list[str] = []

    async def follow() -> None:
        async for content in follower_of(store, "chat"):
            received.append(content)

    following = asyncio.create_task(follow())
    await eventually(lambda: len(store.broadcaster) == 1)
    await writer.add("chat", [NewMemory("human", "first"), NewMemory("human", "second")])
    feed.start()
    try:
        await eventually(lambda: received == ["first", "second"])
        await writer.add("chat", [NewMemory("human", "third")])
        await eventually(lambda: received == ["first", "second", "third"])
        assert isinstance(feed.polling, PollingFeed)
        await store.for_viewer(OPEN).sessions.delete("chat")
        await asyncio.wait_for(following, 5)
    finally:
        following.cancel()
        await feed.stop()
    assert len(store.broadcaster) == 0


async def test_polling_asks_twice_a_poll_whatever_the_number_of_subscribers(
    db: Database,
) -> None:
    store = Store(db)
    writer = store.for_viewer(OPEN).memories
    for index in range(20):
        await writer.add(f"chat-{index}", [NewMemory("human", "hi")])
    broadcaster = Broadcaster(buffer=100)
    subscriptions = [broadcaster.subscribe(f"chat-{index}") for index in range(20)]
    calls: list[str] = []

    class Counted:
        def __init__(self, name: str, collection: Collection) -> None:
            self.name = name
            self.collection = collection

        def find(self, *args: Any, **kwargs: Any) -> Any:
            calls.append(self.name)
            return self.collection.find(*args, **kwargs)

    polling = PollingFeed(
        cast(Collection, Counted("memories", db.memories)),
        cast(Collection, Counted("sessions", db.sessions)),
        broadcaster,
        interval=1,
    )
    await polling.poll()
    assert all(subscription.stale for subscription in subscriptions)
    calls.clear()
    for index in range(20):
        await writer.add(f"chat-{index}", [NewMemory("human", f"new {index}")])
    await polling.poll()
    assert sorted(calls) == ["memories", "sessions"]
    assert [contents(subscription) for subscription in subscriptions] == [
        [f"new {index}"] for index in range(20)
    ]
