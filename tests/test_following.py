"""Following a session behind an imperfect feed: a follower never skips a memory the feed
failed to announce, and never repeats one announced twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.auth import OPEN, Viewer
from app.db import Database
from app.documents import MemoryDoc
from app.store import Store
from app.store.following import REPLAY_PAGE, FellBehind
from app.store.keyset import PageRequest
from app.store.memories import NewMemory
from tests.support.stores import make_settings


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    db = Database.connect(make_settings())
    store = Store(db)
    store.publisher = None  # the test announces memories itself, as a feed would
    yield store
    db.close()


async def add(store: Store, *contents: str) -> list[MemoryDoc]:
    memories = store.for_viewer(OPEN).memories
    _, added = await memories.add("chat", [NewMemory("human", content) for content in contents])
    return added


async def test_an_overflow_while_replaying_the_store_is_read_from_the_store_again(
    store: Store,
) -> None:
    """On MongoDB the change stream may bring a large write's events after a follower began
    replaying it: they overflow a small buffer but are stored, so the follower reads them from
    the store rather than ending."""
    store.broadcaster.buffer = 2
    await add(store, "one")
    follower = await store.for_viewer(OPEN).memories.follow("chat", after=0)
    memories = aiter(follower)
    assert (await anext(memories)).content == "one"
    late = await add(store, "two", "three", "four")
    store.broadcaster.memories_added("chat", late)
    assert [(await anext(memories)).content for _ in range(3)] == ["two", "three", "four"]
    five = await add(store, "five")
    store.broadcaster.memories_added("chat", five)
    assert (await anext(memories)).content == "five"
    await memories.aclose()  # type: ignore[attr-defined]
    assert len(store.broadcaster) == 0


async def test_memories_the_feed_missed_are_read_from_the_store_and_repeats_dropped(
    store: Store,
) -> None:
    await add(store, "before")
    follower = await store.for_viewer(OPEN).memories.follow("chat")
    received: list[str] = []

    async def follow() -> None:
        async for memory in follower:
            received.append(memory.content)

    following = asyncio.create_task(follow())
    await add(store, "missed 1", "missed 2")
    announced = await add(store, "announced")
    store.broadcaster.memories_added("chat", announced)
    store.broadcaster.memories_added("chat", announced)
    store.broadcaster.memories_added("chat", await add(store, "next"))
    for _ in range(500):
        if len(received) == 4:
            break
        await asyncio.sleep(0.01)
    store.broadcaster.session_deleted("chat")
    await asyncio.wait_for(following, 5)
    assert received == ["missed 1", "missed 2", "announced", "next"]
    assert len(store.broadcaster) == 0


async def test_nothing_waiting_is_sent_once_the_session_is_given_to_another_user(
    store: Store,
) -> None:
    """Each memory passes the access rule when it is sent: those that waited for a slow reader
    when the session changed hands are not sent, live or replayed."""
    await add(store, "zero")
    alice = Viewer(admin=False, user_id="alice")
    admin = store.for_viewer(OPEN)
    await admin.users.add("alice")
    await admin.users.add("bob")
    await admin.sessions.update("chat", user_id="alice")
    replayed = store.for_viewer(alice).memories
    follower = aiter(await replayed.follow("chat", after=0))
    assert (await anext(follower)).content == "zero"
    live = aiter(await replayed.follow("chat"))
    store.broadcaster.memories_added("chat", await add(store, "alice's"))
    await admin.sessions.update("chat", user_id="bob")
    store.broadcaster.session_given_to("chat", "bob")
    store.broadcaster.memories_added("chat", await add(store, "bob's"))
    assert [memory.content async for memory in live] == []
    assert [memory.content async for memory in follower] == []


async def test_a_replay_reads_the_sessions_owner_before_sending_what_it_read(
    store: Store,
) -> None:
    """On MongoDB the change feed may tell of a hand-off after the replay read memories written
    since: the replay asks the store before it sends a page."""
    admin = store.for_viewer(OPEN)
    await admin.users.add("alice")
    await admin.users.add("bob")
    await admin.sessions.add("chat", user_id="alice")
    await add(store, *(f"m{index}" for index in range(REPLAY_PAGE + 5)))
    follower = aiter(
        await store.for_viewer(Viewer(admin=False, user_id="alice")).memories.follow(
            "chat", after=0
        )
    )
    first_page = [(await anext(follower)).content for _ in range(REPLAY_PAGE)]
    assert first_page[-1] == f"m{REPLAY_PAGE - 1}"
    await admin.sessions.update("chat", user_id="bob")  # no feed here tells the follower
    await add(store, "not alice's")
    assert [memory.content async for memory in follower] == []


async def test_a_follower_that_falls_behind_says_after_which_memory(store: Store) -> None:
    store.broadcaster.buffer = 2
    await add(store, "zero")
    follower = await store.for_viewer(OPEN).memories.follow("chat")
    memories = aiter(follower)
    stored = await add(store, "one")
    store.broadcaster.memories_added("chat", stored)
    assert (await anext(memories)).content == "one"
    store.broadcaster.memories_added("chat", await add(store, "two", "three", "four"))
    with pytest.raises(FellBehind) as behind:
        await anext(memories)
    assert behind.value.last_seq == stored[0].seq
    assert len(store.broadcaster) == 0
    assert (
        await store.for_viewer(OPEN)
        .memories.of_sessions()
        .of("chat")
        .page(PageRequest(limit=10, after=(behind.value.last_seq,)))
    ).items[0].content == "two"
