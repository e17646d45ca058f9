"""Memories: adding (with session upsert and undelete), ordering, updating and deleting."""

from __future__ import annotations

import asyncio

from tests.support.client import GraphQLClient, running_app
from tests.support.data import ADD_MEMORY, add_memories, add_session, memory_contents, raw_documents
from tests.support.stores import make_settings

UPDATE_MEMORY = """
mutation($input: UpdateMemoryInput!) { updateMemory(input: $input) { memory { uuid metadata } } }
"""
DELETE_MEMORIES = """
mutation($id: String!) { deleteMemories(sessionId: $id) { deletedCount session { sessionId } } }
"""


async def test_memory_added_to_an_unknown_session_creates_it(api: GraphQLClient) -> None:
    data = await api.data(
        ADD_MEMORY,
        {
            "input": {
                "sessionId": "new",
                "memories": [
                    {"role": "human", "roleType": "USER", "content": "hello", "metadata": {"k": 1}},
                    {"role": "ai", "roleType": "ASSISTANT", "content": "hi!"},
                ],
            }
        },
    )
    payload = data["addMemory"]
    assert payload["session"]["sessionId"] == "new"
    assert [
        (m["role"], m["roleType"], m["content"], m["metadata"]) for m in payload["memories"]
    ] == [
        ("human", "USER", "hello", {"k": 1}),
        ("ai", "ASSISTANT", "hi!", {}),
    ]
    session = await api.data('{ session(sessionId: "new") { id userId metadata } }')
    assert session["session"] == {"id": payload["session"]["id"], "userId": None, "metadata": {}}
    assert await memory_contents(api, "new") == ["hello", "hi!"]


async def test_memory_added_to_a_deleted_session_undeletes_it_and_only_new_memories_show(
    api: GraphQLClient,
) -> None:
    await add_memories(api, "s1", ["old 1", "old 2"])
    await api.data('mutation { deleteSession(sessionId: "s1") { deletedId } }')
    await add_memories(api, "s1", ["new 1"])
    assert await memory_contents(api, "s1") == ["new 1"]
    data = await api.data('{ session(sessionId: "s1") { memories { totalCount } } }')
    assert data["session"]["memories"]["totalCount"] == 1


async def test_memories_last_three_are_the_most_recent_in_chronological_order(
    api: GraphQLClient,
) -> None:
    await add_memories(api, "s1", [f"m{i}" for i in range(1, 6)])
    await add_memories(api, "s1", [f"m{i}" for i in range(6, 9)])
    assert await memory_contents(api, "s1", last=3) == ["m6", "m7", "m8"]
    assert await memory_contents(api, "s1", first=3) == ["m1", "m2", "m3"]


async def test_role_type_is_optional(api: GraphQLClient) -> None:
    added = await add_memories(api, "s1", ["x"])
    assert added[0]["roleType"] is None


async def test_update_memory_by_global_id_or_uuid_merges_metadata(api: GraphQLClient) -> None:
    data = await api.data(
        ADD_MEMORY,
        {
            "input": {
                "sessionId": "s1",
                "memories": [
                    {"role": "human", "content": "x", "metadata": {"a": 1, "n": {"x": 1}}}
                ],
            }
        },
    )
    memory = data["addMemory"]["memories"][0]
    by_id = await api.data(
        UPDATE_MEMORY, {"input": {"id": memory["id"], "metadata": {"n": {"y": 2}}}}
    )
    assert by_id["updateMemory"]["memory"]["metadata"] == {"a": 1, "n": {"x": 1, "y": 2}}
    by_uuid = await api.data(
        UPDATE_MEMORY, {"input": {"id": memory["uuid"], "metadata": {"a": None}}}
    )
    assert by_uuid["updateMemory"]["memory"]["metadata"] == {"n": {"x": 1, "y": 2}}


async def test_update_of_unknown_or_deleted_memory_is_not_found(api: GraphQLClient) -> None:
    unknown = await api.error(
        UPDATE_MEMORY,
        {"input": {"id": "6f1c1f5e-3c55-4c55-8f0e-0a0e3f1c9d11", "metadata": {"a": 1}}},
    )
    assert unknown["extensions"] == {"code": "NOT_FOUND", "field": "input.id"}
    memory = (await add_memories(api, "s1", ["x"]))[0]
    await api.data(DELETE_MEMORIES, {"id": "s1"})
    assert (
        await api.code(UPDATE_MEMORY, {"input": {"id": memory["id"], "metadata": {"a": 1}}})
        == "NOT_FOUND"
    )


async def test_update_memory_with_a_malformed_id_is_bad_user_input(api: GraphQLClient) -> None:
    session = await add_session(api, "s1")
    for bad in ["not-an-id", session["id"], ""]:
        error = await api.error(UPDATE_MEMORY, {"input": {"id": bad, "metadata": {"a": 1}}})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.id"}, bad


async def test_delete_memories_hides_every_memory_and_keeps_the_session(
    api: GraphQLClient,
) -> None:
    await add_memories(api, "s1", ["a", "b", "c"])
    data = await api.data(DELETE_MEMORIES, {"id": "s1"})
    assert data["deleteMemories"] == {"deletedCount": 3, "session": {"sessionId": "s1"}}
    assert await memory_contents(api, "s1") == []
    assert (await api.data('{ session(sessionId: "s1") { sessionId } }'))["session"]
    await add_memories(api, "s1", ["d"])
    assert await memory_contents(api, "s1") == ["d"]
    assert (await api.data(DELETE_MEMORIES, {"id": "s1"}))["deleteMemories"]["deletedCount"] == 1


async def test_delete_memories_of_an_unknown_session_is_not_found(api: GraphQLClient) -> None:
    assert await api.code(DELETE_MEMORIES, {"id": "nope"}) == "NOT_FOUND"


async def test_concurrent_add_memory_calls_keep_each_call_contiguous_and_in_order(
    api: GraphQLClient,
) -> None:
    calls, per_call = 20, 5

    async def add(call: int) -> None:
        await add_memories(api, "busy", [f"{call}:{i}" for i in range(per_call)])

    await asyncio.gather(*(add(call) for call in range(calls)))

    stored = sorted(await raw_documents(api, "memories", sessionId="busy"), key=lambda m: m["seq"])
    assert len(stored) == calls * per_call
    assert [m["seq"] for m in stored] == list(range(1, calls * per_call + 1))
    for start in range(0, len(stored), per_call):
        block = [m["content"] for m in stored[start : start + per_call]]
        call = block[0].split(":")[0]
        assert block == [f"{call}:{i}" for i in range(per_call)]
    contents = await memory_contents(api, "busy", first=100)
    assert contents == [m["content"] for m in stored]
    sessions = await raw_documents(api, "sessions", sessionId="busy")
    assert len(sessions) == 1
    assert sessions[0]["memorySeq"] == calls * per_call


async def test_seq_keeps_growing_after_delete_and_undelete(api: GraphQLClient) -> None:
    await add_memories(api, "s1", ["a", "b"])
    await api.data('mutation { deleteSession(sessionId: "s1") { deletedId } }')
    await add_memories(api, "s1", ["c"])
    seqs = sorted(m["seq"] for m in await raw_documents(api, "memories", sessionId="s1"))
    assert seqs == [1, 2, 3]


async def test_invalid_memories_are_rejected_and_nothing_is_stored(api: GraphQLClient) -> None:
    cases = [
        ([], "input.memories"),
        (
            [{"role": "human", "content": "ok"}, {"role": "", "content": "x"}],
            "input.memories[1].role",
        ),
        ([{"role": "   ", "content": "x"}], "input.memories[0].role"),
        (
            [{"role": "human", "content": "ok", "metadata": {"$bad": 1}}],
            "input.memories[0].metadata.$bad",
        ),
        ([{"role": "human", "content": "x"}] * 1001, "input.memories"),
    ]
    for memories, field in cases:
        error = await api.error(ADD_MEMORY, {"input": {"sessionId": "s1", "memories": memories}})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert await raw_documents(api, "memories") == []
    assert await raw_documents(api, "sessions") == []


async def test_content_up_to_one_mebibyte_is_accepted_and_more_rejected() -> None:
    # A 1 MiB memory needs a request body over the default 1 MiB limit.
    async with running_app(make_settings(max_body_bytes=3 * 1024 * 1024)) as api:
        content = "é" * (512 * 1024)  # 1 MiB of UTF-8
        added = await add_memories(api, "s1", [content])
        assert len(added[0]["content"]) == len(content)
        error = await api.error(
            ADD_MEMORY,
            {"input": {"sessionId": "s2", "memories": [{"role": "h", "content": content + "x"}]}},
        )
        assert error["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "input.memories[0].content",
        }
        assert await raw_documents(api, "sessions", sessionId="s2") == []


async def test_unknown_role_type_is_rejected_before_anything_is_stored(api: GraphQLClient) -> None:
    body = await api.post(
        ADD_MEMORY,
        {
            "input": {
                "sessionId": "s1",
                "memories": [{"role": "x", "content": "y", "roleType": "WIZARD"}],
            }
        },
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "WIZARD" in body["errors"][0]["message"]
    assert await raw_documents(api, "sessions") == []


async def test_memory_session_field_resolves(api: GraphQLClient) -> None:
    await add_memories(api, "s1", ["a", "b"])
    data = await api.data(
        '{ session(sessionId: "s1") { memories { edges { node { session { sessionId } } } } } }'
    )
    edges = data["session"]["memories"]["edges"]
    assert [e["node"]["session"]["sessionId"] for e in edges] == ["s1", "s1"]
