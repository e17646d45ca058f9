"""Nested queries without N+1: each nesting level costs one round of database calls,
counted at the store boundary, and every parent's page is exactly what it would be alone."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.call_counting import DatabaseCalls, counting_calls
from tests.support.client import GraphQLClient, running_app
from tests.support.data import add_memories, add_session, add_user
from tests.support.stores import ON_MONGODB, requires_mongodb

NESTED = """
{
  users(first: 10) {
    edges { node {
      userId
      sessions(first: 10) {
        edges { node {
          sessionId
          user { userId }
          memories(last: 10) { edges { node { content session { sessionId } } } }
        } }
      }
    } }
  }
}
"""


async def seed(api: GraphQLClient, users: int, sessions: int, memories: int) -> None:
    """`users` users with `sessions` sessions each, each session with `memories` memories."""
    for u in range(users):
        await add_user(api, f"u{u}")
        for s in range(sessions):
            session_id = f"u{u}-s{s}"
            await add_session(api, session_id, userId=f"u{u}")
            await add_memories(api, session_id, [f"{session_id}-m{m}" for m in range(memories)])


async def counted(api: GraphQLClient, query: str, **variables: Any) -> tuple[Any, DatabaseCalls]:
    with counting_calls() as calls:
        data = await api.data(query, variables)
    return data, calls


PLANS = st.booleans() if ON_MONGODB else st.just(False)
"""Both plans of ChildLists (`union`) where both run: mongomock has no `$unionWith`."""


def round_trips(calls: DatabaseCalls) -> list[str]:
    """The collection of each call."""
    return [call.split(".")[0] for call in calls.calls]


def per_level(parents: int) -> int:
    """The calls a level of `parents` parents takes: one aggregate of `$unionWith` stages on
    MongoDB, one call per parent on the embedded store, each reading its parent's index
    entries in this process (app.store.child_lists.ChildLists)."""
    return 1 if ON_MONGODB else parents


def levels(calls: DatabaseCalls) -> list[tuple[str, int]]:
    """Each level's collection and its number of calls, in order."""
    return [(name, len(list(run))) for name, run in itertools.groupby(round_trips(calls))]


async def test_the_nested_query_costs_one_call_per_level_whatever_the_data_size() -> None:
    for users, sessions, memories in ((2, 2, 3), (4, 3, 25)):
        async with running_app() as api:
            await seed(api, users, sessions, memories)
            data, calls = await counted(api, NESTED)
            # A level each: the users, all their sessions, all those sessions' memories. A
            # session's user and a memory's session are the parents already loaded.
            assert levels(calls) == [
                ("users", 1),
                ("sessions", per_level(users)),
                ("memories", per_level(users * sessions)),
            ]
            listed = data["users"]["edges"]
            assert [edge["node"]["userId"] for edge in listed] == [f"u{u}" for u in range(users)]
            for u, user in enumerate(listed):
                session_edges = user["node"]["sessions"]["edges"]
                assert len(session_edges) == sessions
                for s, edge in enumerate(session_edges):
                    session = edge["node"]
                    assert session["sessionId"] == f"u{u}-s{s}"
                    assert session["user"] == {"userId": f"u{u}"}
                    contents = [m["node"]["content"] for m in session["memories"]["edges"]]
                    first = max(0, memories - 10)
                    assert contents == [f"u{u}-s{s}-m{m}" for m in range(first, memories)]
                    assert all(
                        m["node"]["session"] == {"sessionId": f"u{u}-s{s}"}
                        for m in session["memories"]["edges"]
                    )


@requires_mongodb
async def test_on_mongodb_each_parent_page_is_an_indexed_union_stage_of_one_aggregate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plan for indexed stores: one aggregate per level, each parent's page a `$unionWith`
    sub-pipeline that walks the (sessionId, deletedAt, seq) index, so the round trips never
    grow with the parents or the memories stored."""
    for memories in (3, 40):
        async with running_app() as api:
            await seed(api, 2, 3, memories)
            pipelines: list[list[dict[str, Any]]] = []
            collection = api.store.db.memories
            aggregate = collection.aggregate

            def recorded(
                pipeline: list[dict[str, Any]],
                *args: Any,
                pipelines: list[list[dict[str, Any]]] = pipelines,
                aggregate: Any = aggregate,
                **kwargs: Any,
            ) -> Any:
                pipelines.append(pipeline)
                return aggregate(pipeline, *args, **kwargs)

            monkeypatch.setattr(collection, "aggregate", recorded)
            data, calls = await counted(api, NESTED)
            monkeypatch.undo()
            assert Counter(calls.calls) == {
                "users.find": 1,
                "sessions.aggregate": 1,
                "memories.aggregate": 1,
            }
            sessions = data["users"]["edges"][1]["node"]["sessions"]["edges"]
            contents = [m["node"]["content"] for m in sessions[2]["node"]["memories"]["edges"]]
            assert contents == [f"u1-s2-m{m}" for m in range(max(0, memories - 10), memories)]
            [pipeline] = pipelines
            unions = [stage["$unionWith"] for stage in pipeline if "$unionWith" in stage]
            assert [union["coll"] for union in unions] == ["memories"] * 5
            parts = [pipeline[: len(pipeline) - len(unions)], *(u["pipeline"] for u in unions)]
            db = api.store.db.db
            for part in parts:
                # Each memory's words are left out (search's alone: app.store.memories.READ).
                assert part[-2:] == [{"$limit": 11}, {"$project": {"searchTerms": 0}}]
                explained = await db.command(
                    "explain", {"aggregate": "memories", "pipeline": part, "cursor": {}}
                )
                plan = explained["stages"][0]["$cursor"]["queryPlanner"]["winningPlan"]
                assert plan["inputStage"]["stage"] == "IXSCAN", plan
                assert plan["inputStage"]["indexName"] == "sessionId_deletedAt_seq"


async def test_memory_session_for_fifty_memories_is_one_session_lookup(
    api: GraphQLClient,
) -> None:
    await add_session(api, "s")
    added = await add_memories(api, "s", [f"m{m}" for m in range(50)])
    data, calls = await counted(
        api,
        "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Memory { session { sessionId } } } }",
        ids=[memory["id"] for memory in added],
    )
    assert data["nodes"] == [{"session": {"sessionId": "s"}}] * 50
    assert calls.calls == ["memories.find", "sessions.find"]


async def test_the_users_of_listed_sessions_are_one_lookup(api: GraphQLClient) -> None:
    for user in ("alice", "bob", "carol"):
        await add_user(api, user)
        for index in range(3):
            await add_session(api, f"{user}-{index}", userId=user)
    await add_session(api, "nobody")
    data, calls = await counted(api, "{ sessions { edges { node { user { userId } } } } }")
    users = [edge["node"]["user"] for edge in data["sessions"]["edges"]]
    expected = [{"userId": user} for user in ("alice", "bob", "carol") for _ in range(3)]
    assert users == [*expected, None]
    assert calls.calls == ["sessions.find", "users.find"]


async def test_memories_of_a_session_reuse_the_session_already_loaded(api: GraphQLClient) -> None:
    await add_session(api, "s")
    await add_memories(api, "s", [f"m{m}" for m in range(50)])
    data, calls = await counted(
        api,
        '{ session(sessionId: "s") { memories(first: 50) '
        "{ edges { node { session { sessionId } } } } } }",
    )
    assert len(data["session"]["memories"]["edges"]) == 50
    assert calls.of("sessions") == ["sessions.find"]
    assert calls.of("memories") == ["memories.find"]


@pytest.mark.parametrize(
    "union",
    # mongomock has no `$unionWith`: the union plan runs on MongoDB only.
    [False, pytest.param(True, marks=requires_mongodb)],
    ids=["per-parent", "union"],
)
async def test_total_counts_and_flags_of_nested_connections_are_batched_too(
    api: GraphQLClient, union: bool
) -> None:
    api.store.db.unions = union  # both plans of ChildLists
    await seed(api, 3, 2, 4)
    first_page = await api.data(
        '{ session(sessionId: "u0-s0") { memories(first: 1) { edges { cursor } } } }'
    )
    cursor = first_page["session"]["memories"]["edges"][0]["cursor"]
    data, calls = await counted(
        api,
        "query($after: String!) { users { edges { node { sessions { totalCount edges { node {"
        " memories(first: 2, after: $after) { totalCount pageInfo { hasPreviousPage"
        " hasNextPage } edges { node { content } } } } } } } } } }",
        after=cursor,
    )
    if not union:
        # Pages, counts and the flag behind the cursor: one call each per parent (the
        # embedded store: calls in this process, each reading its parent's index entries).
        assert Counter(calls.calls) == {
            "users.find": 1,
            "sessions.find": 3,
            "sessions.count_documents": 3,
            "memories.find": 6,
            "memories.find_one": 6,
            "memories.count_documents": 6,
        }
    else:
        # Pages, flags (`$unionWith` stages) and counts (a `$group`): one aggregate each.
        assert Counter(calls.calls) == {
            "users.find": 1,
            "sessions.aggregate": 2,
            "memories.aggregate": 3,
        }
    for u, user in enumerate(data["users"]["edges"]):
        sessions = user["node"]["sessions"]
        assert sessions["totalCount"] == 2
        for s, edge in enumerate(sessions["edges"]):
            memories = edge["node"]["memories"]
            assert memories["totalCount"] == 4
            assert memories["pageInfo"] == {"hasPreviousPage": True, "hasNextPage": True}
            assert [m["node"]["content"] for m in memories["edges"]] == [
                f"u{u}-s{s}-m1",
                f"u{u}-s{s}-m2",
            ]


async def test_aliased_nested_connections_with_different_arguments_each_get_their_page(
    api: GraphQLClient,
) -> None:
    await seed(api, 2, 1, 3)
    data, calls = await counted(
        api,
        "{ users { edges { node { sessions { edges { node {"
        " oldest: memories(first: 1) { edges { node { content } } }"
        " newest: memories(last: 1) { edges { node { content } } } } } } } } } }",
    )
    for u, user in enumerate(data["users"]["edges"]):
        session = user["node"]["sessions"]["edges"][0]["node"]
        assert session["oldest"]["edges"] == [{"node": {"content": f"u{u}-s0-m0"}}]
        assert session["newest"]["edges"] == [{"node": {"content": f"u{u}-s0-m2"}}]
    # Two pages of memories asked in one round: a level for each set of arguments.
    assert round_trips(calls).count("memories") == 2 * per_level(2)


async def test_concurrent_requests_keep_their_own_counts(api: GraphQLClient) -> None:
    await seed(api, 2, 2, 2)
    small = '{ session(sessionId: "u0-s0") { sessionId } }'

    async def count(query: str) -> int:
        _, calls = await counted(api, query)
        return len(calls)

    alone = (await count(NESTED), await count(small))
    # The same calls, alone or together.
    together = await asyncio.gather(*(count(query) for query in (NESTED, small) * 5))
    nested = 1 + per_level(2) + per_level(4)
    assert alone == (nested, 1)
    assert list(together) == [nested, 1] * 5


async def test_a_mutation_reading_a_connection_twice_sees_what_changed_in_between(
    api: GraphQLClient,
) -> None:
    await add_session(api, "s")
    memory = '{sessionId: "s", memories: [{role: "h", content: "x"}]}'
    data = await api.data(
        f"mutation {{ a: addMemory(input: {memory}) {{ session {{ memories {{ totalCount }} }} }}"
        f" b: addMemory(input: {memory}) {{ session {{ memories {{ totalCount }} }} }} }}"
    )
    assert data["a"]["session"]["memories"]["totalCount"] == 1
    assert data["b"]["session"]["memories"]["totalCount"] == 2


PAGE = "{ %s pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount }"


def arguments(args: dict[str, Any]) -> str:
    rendered = ", ".join(
        f'{name}: "{value}"' if isinstance(value, str) else f"{name}: {value}"
        for name, value in args.items()
    )
    return f"({rendered})" if rendered else ""


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(0, 7), min_size=2, max_size=4),
    size=st.integers(0, 5),
    forward=st.booleans(),
    cursor_at=st.one_of(st.none(), st.integers(0, 6)),
    bound=st.sampled_from(["start", "end"]),
    union=PLANS,
)
async def test_each_parents_page_is_the_page_it_would_get_alone(
    sizes: list[int], size: int, forward: bool, cursor_at: int | None, bound: str, union: bool
) -> None:
    async with running_app() as api:
        api.store.db.unions = union  # both plans of ChildLists
        await add_user(api, "u")
        for index, count in enumerate(sizes):
            await add_session(api, f"s{index}", userId="u")
            if count:
                await add_memories(api, f"s{index}", [f"s{index}-m{m}" for m in range(count)])
        args: dict[str, Any] = {"first" if forward else "last": size}
        if cursor_at is not None:
            # Cursors encode positions, so one taken from the longest session applies to all.
            longest = sizes.index(max(sizes))
            everything = await api.data(
                f'{{ session(sessionId: "s{longest}") {{ memories(first: 100) '
                "{ edges { cursor } } } }"
            )
            cursors = [e["cursor"] for e in everything["session"]["memories"]["edges"]]
            if cursors:
                position = "after" if (bound == "start") == forward else "before"
                args[position] = cursors[min(cursor_at, len(cursors) - 1)]
        fields = PAGE % "edges { cursor node { content } }"
        memories = f"memories{arguments(args)} {fields}"
        sessions = f"sessions(first: 10) {{ edges {{ node {{ {memories} }} }} }}"
        users = f"users {{ edges {{ node {{ {sessions} }} }} }}"
        nested = await api.data(f'{{ user(userId: "u") {{ {sessions} }} {users} }}')
        by_user = nested["user"]["sessions"]["edges"]
        by_users = nested["users"]["edges"][0]["node"]["sessions"]["edges"]
        for index in range(len(sizes)):
            alone = await api.data(f'{{ session(sessionId: "s{index}") {{ {memories} }} }}')
            assert by_user[index]["node"]["memories"] == alone["session"]["memories"]
            assert by_users[index]["node"]["memories"] == alone["session"]["memories"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(0, 5), min_size=2, max_size=3),
    size=st.integers(0, 4),
    forward=st.booleans(),
    cursor_at=st.one_of(st.none(), st.integers(0, 4)),
    union=PLANS,
)
async def test_each_users_sessions_page_is_the_page_it_would_get_alone(
    sizes: list[int], size: int, forward: bool, cursor_at: int | None, union: bool
) -> None:
    async with running_app() as api:
        api.store.db.unions = union  # both plans of ChildLists
        for u, count in enumerate(sizes):
            await add_user(api, f"u{u}")
            for s in range(count):
                await add_session(api, f"u{u}-s{s}", userId=f"u{u}")
        args: dict[str, Any] = {"first" if forward else "last": size}
        if cursor_at is not None:
            everything = await api.data("{ sessions(first: 100) { edges { cursor } } }")
            cursors = [e["cursor"] for e in everything["sessions"]["edges"]]
            if cursors:
                args["after" if forward else "before"] = cursors[min(cursor_at, len(cursors) - 1)]
        sessions = f"sessions{arguments(args)} {PAGE % 'edges { cursor node { sessionId } }'}"
        nested = await api.data(f"{{ users {{ edges {{ node {{ userId {sessions} }} }} }} }}")
        for edge in nested["users"]["edges"]:
            user_id = edge["node"]["userId"]
            alone = await api.data(f'{{ user(userId: "{user_id}") {{ {sessions} }} }}')
            assert edge["node"]["sessions"] == alone["user"]["sessions"]
