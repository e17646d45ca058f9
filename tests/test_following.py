"""Following a session behind an imperfect feed: a follower never skips a memory the feed
failed to announce, and never repeats one announced twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.auth import OPEN
from app.db import Database
from app.documents import MemoryDoc
from app.store import Store
from app.store.following import FellBehind
from app.store.keyset import PageRequest
from app.store.memories import NewMemory
from tests.conftest import make_settings


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
    store.broadcaster.session_deleted("chat")
    await asyncio.wait_for(following, 5)
    assert received == ["missed 1", "missed 2", "announced", "next"]
    assert len(store.broadcaster) == 0


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
