"""MemqlClient over real HTTP (uvicorn on 127.0.0.1 in a thread), and both clients walking
1,050 sessions page by page."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from conftest import SyncHarness, seed_sessions

from memql_client import (
    AlreadyExistsError,
    AsyncMemqlClient,
    MemoryInput,
    MemqlClient,
    NotFoundError,
    RoleType,
    Session,
    SessionFilter,
    User,
)


def test_a_whole_conversation_through_the_sync_client(sync_client: MemqlClient) -> None:
    user = sync_client.add_user("alice", first_name="Alice", metadata={"plan": "pro"})
    session = sync_client.add_session("chat-1", user_id="alice", metadata={"topic": "tea"})
    added = sync_client.add_memory(
        "chat-1",
        [
            MemoryInput("human", "Any tea without caffeine?", RoleType.USER),
            MemoryInput("ai", "Rooibos.", RoleType.ASSISTANT),
        ],
    )
    assert sync_client.get_memories("chat-1", last=50).nodes == added
    assert [m.content for m in sync_client.iter_memories("chat-1", newest_first=True)] == [
        "Rooibos.",
        "Any tea without caffeine?",
    ]
    tagged = sync_client.update_memory(added[1].id, {"liked": True})
    assert tagged.metadata == {"liked": True}
    assert sync_client.update_session("chat-1", metadata={"topic": None}).metadata == {}
    assert sync_client.update_user("alice", email="a@example.com").email == "a@example.com"
    assert isinstance(sync_client.get_node(user.id), User)
    assert [type(node) for node in sync_client.get_nodes([session.id, "bm9wZTox"])] == [
        Session,
        type(None),
    ]
    assert sync_client.get_user("alice") == sync_client.list_users(first=1).nodes[0]
    assert sync_client.get_session("chat-1") == sync_client.list_sessions(user_id="alice").nodes[0]
    data = sync_client.execute("{ sessions { totalCount } }")
    assert data == {"sessions": {"totalCount": 1}}
    assert sync_client.delete_memories("chat-1") == 2
    assert sync_client.delete_session("chat-1") == session.id
    assert sync_client.delete_user("alice") == user.id
    assert [u.user_id for u in sync_client.iter_users()] == []
    counts = sync_client.purge_deleted()
    assert (counts.users, counts.sessions, counts.memories) == (1, 1, 2)


def test_the_sync_client_walks_the_sessions_a_filter_keeps(sync_client: MemqlClient) -> None:
    sync_client.add_user("alice")
    for index in range(5):
        sync_client.add_session(f"s{index}", user_id="alice", metadata={"n": index % 2})
    odd = SessionFilter(metadata={"n": 1})
    assert [s.session_id for s in sync_client.iter_sessions(page_size=1, filter=odd)] == [
        "s1",
        "s3",
    ]
    page = sync_client.list_sessions(user_id="alice", total_count=True, filter=odd)
    assert (page.total_count, [s.session_id for s in page]) == (2, ["s1", "s3"])


def test_the_sync_client_raises_coded_errors_over_http(sync_client: MemqlClient) -> None:
    sync_client.add_session("chat-1")
    with pytest.raises(AlreadyExistsError) as raised:
        sync_client.add_session("chat-1")
    assert (raised.value.field, raised.value.status_code) == ("input.sessionId", 200)
    with pytest.raises(NotFoundError):
        list(sync_client.iter_memories("nowhere"))


def test_a_client_given_its_own_http_client_leaves_it_open(sync_harness: SyncHarness) -> None:
    with httpx.Client() as http:
        with MemqlClient(sync_harness.client.url, http=http) as client:
            assert client.get_user("alice") is None
        assert not http.is_closed
        assert MemqlClient(sync_harness.client.url, http=http).get_session("x") is None
    with pytest.raises(ValueError, match="not both"):
        MemqlClient(http=httpx.Client(), transport=httpx.HTTPTransport())


def test_both_clients_walk_1050_sessions_in_pages_of_100_each_once_in_order(
    sync_harness: SyncHarness,
) -> None:
    seeded = sync_harness.server.call(seed_sessions(sync_harness.store, 1050))
    requests: list[httpx.Request] = []

    def count(request: httpx.Request) -> None:
        requests.append(request)

    with (
        httpx.Client(event_hooks={"request": [count]}) as http,
        MemqlClient(sync_harness.client.url, http=http) as client,
    ):
        walked = [session.session_id for session in client.iter_sessions(page_size=100)]
    assert walked == seeded
    assert len(requests) == 11

    async def walk_async() -> list[str]:
        async with AsyncMemqlClient(sync_harness.client.url) as client:
            return [session.session_id async for session in client.iter_sessions(page_size=100)]

    assert asyncio.run(walk_async()) == seeded
