"""AsyncMemqlClient against the real app in-process: every query and mutation of the contract."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from memql_client import (
    AsyncMemqlClient,
    BadUserInputError,
    Memory,
    MemoryInput,
    NotFoundError,
    RoleType,
    Session,
    SessionFilter,
    User,
)


async def collect_contents(
    client: AsyncMemqlClient, session_id: str, page_size: int = 100, newest_first: bool = False
) -> list[str]:
    walk = client.iter_memories(session_id, page_size=page_size, newest_first=newest_first)
    return [memory.content async for memory in walk]


async def test_added_memories_come_back_in_order_as_typed_dataclasses(
    client: AsyncMemqlClient,
) -> None:
    added = await client.add_memory(
        "chat-1",
        [
            MemoryInput("human", "Which tea has the least caffeine?", RoleType.USER),
            MemoryInput("ai", "Rooibos.", RoleType.ASSISTANT, metadata={"tokens": 3}),
            MemoryInput("note", "no role type"),
        ],
    )
    assert [(m.role, m.role_type, m.content) for m in added] == [
        ("human", RoleType.USER, "Which tea has the least caffeine?"),
        ("ai", RoleType.ASSISTANT, "Rooibos."),
        ("note", None, "no role type"),
    ]
    first = added[0]
    assert isinstance(first, Memory) and first.session_id == "chat-1"
    assert added[1].metadata == {"tokens": 3} and first.metadata == {}
    assert first.created_at.tzinfo == timezone.utc
    assert abs((datetime.now(timezone.utc) - first.created_at).total_seconds()) < 60
    page = await client.get_memories("chat-1")
    assert page.nodes == added
    assert await collect_contents(client, "chat-1") == [m.content for m in added]


async def test_users_are_added_merged_listed_and_deleted(client: AsyncMemqlClient) -> None:
    alice = await client.add_user(
        "alice", email="a@example.com", first_name="Alice", metadata={"plan": "pro", "n": 1}
    )
    assert isinstance(alice, User)
    assert (alice.user_id, alice.email, alice.first_name, alice.last_name) == (
        "alice",
        "a@example.com",
        "Alice",
        None,
    )
    await client.add_user("bob")
    updated = await client.update_user("alice", last_name="Liddell", metadata={"n": None, "x": 2})
    assert (updated.first_name, updated.last_name) == ("Alice", "Liddell")
    assert updated.metadata == {"plan": "pro", "x": 2}
    assert await client.get_user("alice") == updated
    page = await client.list_users(first=1, total_count=True)
    assert ([u.user_id for u in page], page.total_count) == (["alice"], 2)
    assert page.page_info.has_next_page
    assert [u.user_id async for u in client.iter_users(page_size=1)] == ["alice", "bob"]
    assert await client.delete_user("alice") == alice.id
    assert await client.get_user("alice") is None
    assert [u.user_id async for u in client.iter_users()] == ["bob"]


async def test_sessions_are_added_merged_listed_and_deleted(client: AsyncMemqlClient) -> None:
    await client.add_user("alice")
    chat = await client.add_session("chat-1", user_id="alice", metadata={"topic": "tea"})
    assert isinstance(chat, Session)
    assert (chat.session_id, chat.user_id, chat.metadata) == ("chat-1", "alice", {"topic": "tea"})
    await client.add_session("loose")
    merged = await client.update_session("chat-1", metadata={"mood": "calm"})
    assert merged.metadata == {"topic": "tea", "mood": "calm"}
    assert await client.get_session("chat-1") == merged
    everyone = await client.list_sessions(total_count=True)
    assert ([s.session_id for s in everyone], everyone.total_count) == (["chat-1", "loose"], 2)
    alices = await client.list_sessions(user_id="alice", total_count=True)
    assert ([s.session_id for s in alices], alices.total_count) == (["chat-1"], 1)
    assert everyone.total_count is not None
    assert (await client.list_sessions()).total_count is None
    assert await client.delete_session("chat-1") == chat.id
    assert await client.get_session("chat-1") is None


async def test_memory_metadata_merges_by_global_id_or_by_uuid(client: AsyncMemqlClient) -> None:
    (memory,) = await client.add_memory("chat-1", [MemoryInput("human", "hi", metadata={"a": 1})])
    by_id = await client.update_memory(memory.id, {"b": 2})
    assert by_id.metadata == {"a": 1, "b": 2}
    by_uuid = await client.update_memory(memory.uuid, {"a": None})
    assert (by_uuid.id, by_uuid.metadata) == (memory.id, {"b": 2})


async def test_deleting_memories_and_purging_report_their_counts(
    client: AsyncMemqlClient,
) -> None:
    await client.add_memory("chat-1", [MemoryInput("human", "one"), MemoryInput("ai", "two")])
    assert await client.delete_memories("chat-1") == 2
    assert (await client.get_memories("chat-1", total_count=True)).total_count == 0
    await client.add_user("gone")
    await client.delete_user("gone")
    counts = await client.purge_deleted()
    assert (counts.users, counts.sessions, counts.memories) == (1, 0, 2)


async def test_nodes_come_back_typed_by_their_global_ids(client: AsyncMemqlClient) -> None:
    user = await client.add_user("alice")
    session = await client.add_session("chat-1", user_id="alice")
    (memory,) = await client.add_memory("chat-1", [MemoryInput("human", "hi")])
    assert await client.get_node(user.id) == user
    assert await client.get_node(memory.id) == memory
    found = await client.get_node(session.id)
    assert isinstance(found, Session) and found.user_id == "alice"
    await client.delete_user("alice")
    assert await client.get_nodes([memory.id, user.id]) == [None, None]


async def test_a_chat_view_pages_back_from_the_newest_memories(client: AsyncMemqlClient) -> None:
    contents = [f"m{index}" for index in range(5)]
    await client.add_memory("chat-1", [MemoryInput("human", text) for text in contents])
    newest = await client.get_memories("chat-1", last=2)
    assert [m.content for m in newest] == ["m3", "m4"]
    assert newest.page_info.has_previous_page
    assert newest.edges[0].cursor == newest.page_info.start_cursor
    older = await client.get_memories("chat-1", last=2, before=newest.page_info.start_cursor)
    assert [m.content for m in older] == ["m1", "m2"]
    oldest = await client.get_memories("chat-1", last=2, before=older.page_info.start_cursor)
    assert ([m.content for m in oldest], oldest.page_info.has_previous_page) == (["m0"], False)


async def test_iter_memories_walks_every_page_either_way(client: AsyncMemqlClient) -> None:
    contents = [f"m{index}" for index in range(7)]
    await client.add_memory("chat-1", [MemoryInput("human", text) for text in contents])
    assert await collect_contents(client, "chat-1", page_size=3) == contents
    backward = await collect_contents(client, "chat-1", page_size=3, newest_first=True)
    assert backward == contents[::-1]


async def test_iter_sessions_can_narrow_to_one_user(client: AsyncMemqlClient) -> None:
    await client.add_user("alice")
    for index in range(5):
        await client.add_session(f"s{index}", user_id="alice" if index % 2 == 0 else None)
    walked = [s.session_id async for s in client.iter_sessions(page_size=2, user_id="alice")]
    assert walked == ["s0", "s2", "s4"]


async def test_iter_sessions_walks_only_the_sessions_a_filter_keeps(
    client: AsyncMemqlClient,
) -> None:
    await client.add_user("alice")
    for index in range(7):
        await client.add_session(
            f"s{index}",
            user_id="alice" if index != 3 else None,
            metadata={"topic": "tea" if index % 2 else "coffee", "customer": {"tier": "gold"}},
        )
    tea = SessionFilter(metadata={"topic": "tea", "customer": {"tier": "gold"}})
    walked = [s.session_id async for s in client.iter_sessions(page_size=1, filter=tea)]
    assert walked == ["s1", "s3", "s5"]
    alices = client.iter_sessions(page_size=2, user_id="alice", filter=tea)
    assert [s.session_id async for s in alices] == ["s1", "s5"]
    page = await client.list_sessions(first=10, total_count=True, filter=tea)
    assert (page.total_count, len(page)) == (3, 3)
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    # A naive datetime is taken as UTC.
    between = SessionFilter(created_after=datetime(2000, 1, 1), created_before=tomorrow)
    assert len([s async for s in client.iter_sessions(filter=between)]) == 7
    before_2000 = SessionFilter(created_before=datetime(2000, 1, 1))
    assert [s async for s in client.iter_sessions(filter=before_2000)] == []
    nothing = SessionFilter(updated_after=tomorrow)
    assert [s async for s in client.iter_sessions(filter=nothing)] == []


async def test_a_bad_filter_raises_bad_user_input(client: AsyncMemqlClient) -> None:
    with pytest.raises(BadUserInputError) as raised:
        await client.list_sessions(filter=SessionFilter(metadata={"$where": "1"}))
    assert raised.value.field == "filter.metadata.$where"


async def test_memories_of_an_unknown_session_raise_not_found(client: AsyncMemqlClient) -> None:
    with pytest.raises(NotFoundError) as raised:
        await client.get_memories("nowhere", last=10)
    assert (raised.value.code, raised.value.field) == ("NOT_FOUND", "sessionId")
    with pytest.raises(NotFoundError):
        await collect_contents(client, "nowhere")


async def test_a_page_size_below_one_is_refused_before_any_request(
    client: AsyncMemqlClient,
) -> None:
    with pytest.raises(ValueError, match="page_size"):
        client.iter_sessions(page_size=0)
    with pytest.raises(ValueError, match="page_size"):
        client.iter_memories("chat-1", page_size=-1)


async def test_execute_runs_any_document_such_as_one_nested_query(
    client: AsyncMemqlClient,
) -> None:
    await client.add_user("alice")
    await client.add_session("chat-1", user_id="alice")
    await client.add_memory("chat-1", [MemoryInput("human", "hi"), MemoryInput("ai", "hello")])
    data = await client.execute(
        """query($userId: String!) { user(userId: $userId) {
             sessions(first: 10) { edges { node { sessionId
               memories(last: 50) { edges { node { content } } } } } } } }""",
        {"userId": "alice"},
    )
    (session,) = data["user"]["sessions"]["edges"]
    assert session["node"]["sessionId"] == "chat-1"
    memories = session["node"]["memories"]["edges"]
    assert [edge["node"]["content"] for edge in memories] == ["hi", "hello"]
