"""Session filters (`sessions(filter:)`, `User.sessions(filter:)`): metadata paths and creation
and update times, exact keyset paging and counts under them, batching per filter, tenancy,
refusals, and the plans that serve them on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mongomock
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import given as for_all
from hypothesis import strategies as st

from app.call_counting import counting_calls
from app.store.keyset import PageRequest
from app.store.session_filter import MAX_FILTER_PATHS, SessionFilter
from tests.support.client import GraphQLClient, running_app
from tests.support.data import ADD_MEMORY, World, add_session, add_user, snapshot
from tests.support.stores import ON_MONGODB, requires_mongodb

T0 = datetime(2020, 1, 1, tzinfo=UTC)

SESSIONS = """
query($f: SessionFilter, $userId: String, $first: Int, $after: String, $last: Int,
      $before: String) {
  sessions(filter: $f, userId: $userId, first: $first, after: $after, last: $last,
           before: $before) {
    totalCount
    edges { cursor node { sessionId } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

# (sessionId, metadata, created at minute, updated at minute)
SEEDED: list[tuple[str, dict[str, Any], int, int]] = [
    ("s0", {"topic": "tea", "customer": {"tier": "gold"}, "tags": ["urgent", "billing"]}, 0, 10),
    ("s1", {"topic": "coffee", "customer": {"tier": "gold"}}, 1, 1),
    ("s2", {"topic": "tea", "customer": {"tier": "silver"}, "flag": True}, 2, 12),
    ("s3", {"topic": "tea", "flag": 1, "tags": ["billing"]}, 3, 3),
    ("s4", {}, 4, 14),
    ("s5", {"topic": "tea", "customer": {"tier": "gold"}}, 5, 5),
]


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def iso(minute: int) -> str:
    return at(minute).isoformat().replace("+00:00", "Z")


async def set_times(api: GraphQLClient, session_id: str, created: int, updated: int) -> None:
    """Give a session known times, around the API (creation times are otherwise now)."""
    await api.store.db.sessions.update_one(
        {"sessionId": session_id}, {"$set": {"createdAt": at(created), "updatedAt": at(updated)}}
    )


async def seed(api: GraphQLClient, user_id: str | None = None, prefix: str = "") -> None:
    for session_id, metadata, created, updated in SEEDED:
        fields: dict[str, Any] = {"metadata": metadata}
        if user_id is not None:
            fields["userId"] = user_id
        await add_session(api, prefix + session_id, **fields)
        await set_times(api, prefix + session_id, created, updated)


async def listed(api: GraphQLClient, **variables: Any) -> list[str]:
    variables.setdefault("first", 100)
    data = await api.data(SESSIONS, variables)
    connection = data["sessions"]
    ids = [edge["node"]["sessionId"] for edge in connection["edges"]]
    if variables["first"] == 100 and "after" not in variables:
        assert connection["totalCount"] == len(ids)
    return ids


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"metadata": {"topic": "tea"}}, ["s0", "s2", "s3", "s5"]),
        ({"metadata": {"customer": {"tier": "gold"}}}, ["s0", "s1", "s5"]),
        ({"metadata": {"topic": "tea", "customer": {"tier": "gold"}}}, ["s0", "s5"]),
        ({"createdAfter": iso(2)}, ["s3", "s4", "s5"]),
        ({"createdBefore": iso(2)}, ["s0", "s1"]),
        ({"createdAfter": iso(0), "createdBefore": iso(4)}, ["s1", "s2", "s3"]),
        ({"updatedAfter": iso(9)}, ["s0", "s2", "s4"]),
        (
            {"metadata": {"topic": "tea"}, "createdAfter": iso(0), "updatedAfter": iso(4)},
            ["s2", "s5"],
        ),
        (
            {"metadata": {"topic": "tea"}, "createdBefore": iso(5), "updatedAfter": iso(9)},
            ["s0", "s2"],
        ),
        ({}, ["s0", "s1", "s2", "s3", "s4", "s5"]),
        ({"metadata": {}}, ["s0", "s1", "s2", "s3", "s4", "s5"]),
    ],
    ids=[
        "metadata",
        "nested-path",
        "two-paths",
        "createdAfter",
        "createdBefore",
        "created-range",
        "updatedAfter",
        "metadata-created-updated",
        "metadata-before-updated",
        "empty",
        "empty-metadata",
    ],
)
async def test_each_filter_alone_and_combined_keeps_exactly_its_sessions(
    api: GraphQLClient, where: dict[str, Any], expected: list[str]
) -> None:
    await seed(api)
    assert await listed(api, f=where) == expected


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"tags": "urgent"}, ["s0"]),
        ({"tags": "billing"}, ["s0", "s3"]),
        ({"tags": ["billing"]}, ["s3"]),
        ({"tags": ["urgent", "billing"]}, ["s0"]),
        ({"tags": ["billing", "urgent"]}, []),
        ({"topic": None}, ["s4"]),
        ({"customer": {"tier": None}}, ["s3", "s4"]),
        ({"topic": "tea", "flag": None}, ["s0", "s5"]),
        ({"flag": True}, ["s2"]),
        ({"flag": 1}, ["s3"]),
        ({"flag": 1.0}, ["s3"]),
        ({"flag": False}, []),
        ({"customer": {"tier": "gold", "missing": None}}, ["s0", "s1", "s5"]),
    ],
    ids=[
        "scalar-in-list",
        "scalar-in-lists",
        "list-equal",
        "list-equal-in-order",
        "list-other-order",
        "null-is-absent",
        "nested-null",
        "null-beside-value",
        "true-is-not-1",
        "1-is-not-true",
        "1.0-is-1",
        "false",
        "nested-value-and-null",
    ],
)
async def test_metadata_values_lists_and_null_match_as_documented(
    api: GraphQLClient, metadata: dict[str, Any], expected: list[str]
) -> None:
    """A scalar also matches a list holding it; a list matches an equal list, in order; null
    matches a path with no value; numbers and booleans never match each other."""
    await seed(api)
    assert await listed(api, f={"metadata": metadata}) == expected


async def test_times_are_exclusive_bounds_at_millisecond_precision(api: GraphQLClient) -> None:
    await seed(api)
    finer = at(2) + timedelta(microseconds=700)  # the same millisecond as s2's creation
    text = finer.isoformat().replace("+00:00", "Z")
    assert await listed(api, f={"createdAfter": text, "createdBefore": iso(4)}) == ["s3"]
    assert await listed(api, f={"createdBefore": text}) == ["s0", "s1"]
    # An offset is read as the instant it names: 01:01+01:00 is minute 1 in UTC.
    assert await listed(api, f={"createdAfter": "2020-01-01T01:01:00+01:00"}) == [
        "s2",
        "s3",
        "s4",
        "s5",
    ]


async def test_paging_forward_under_a_filter_is_exact_while_sessions_are_added(
    api: GraphQLClient,
) -> None:
    await seed(api)
    tea = {"metadata": {"topic": "tea"}}
    first = (await api.data(SESSIONS, {"f": tea, "first": 2}))["sessions"]
    assert [edge["node"]["sessionId"] for edge in first["edges"]] == ["s0", "s2"]
    assert first["totalCount"] == 4
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    # Between pages: a matching session behind the cursor, one ahead of it, one not matching
    # ahead, and a new one at the end.
    await add_session(api, "behind", metadata={"topic": "tea"})
    await set_times(api, "behind", 1, 1)
    await add_session(api, "ahead", metadata={"topic": "tea"})
    await set_times(api, "ahead", 4, 4)
    await add_session(api, "other", metadata={"topic": "coffee"})
    await set_times(api, "other", 4, 4)
    await add_session(api, "newest", metadata={"topic": "tea"})
    walked: list[str] = []
    after = first["pageInfo"]["endCursor"]
    while True:
        page = (await api.data(SESSIONS, {"f": tea, "first": 2, "after": after}))["sessions"]
        walked += [edge["node"]["sessionId"] for edge in page["edges"]]
        assert page["totalCount"] == 7
        assert page["pageInfo"]["hasPreviousPage"] is True
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert walked == ["s3", "ahead", "s5", "newest"]


async def test_paging_backward_under_a_filter_is_exact_while_sessions_are_added(
    api: GraphQLClient,
) -> None:
    await seed(api)
    gold = {"metadata": {"customer": {"tier": "gold"}}, "createdBefore": iso(30)}
    last = (await api.data(SESSIONS, {"f": gold, "last": 2}))["sessions"]
    assert [edge["node"]["sessionId"] for edge in last["edges"]] == ["s1", "s5"]
    assert last["pageInfo"]["hasPreviousPage"] is True
    assert last["pageInfo"]["hasNextPage"] is False
    await add_session(api, "early", metadata={"customer": {"tier": "gold"}})
    await set_times(api, "early", -1, -1)
    await add_session(api, "later", metadata={"customer": {"tier": "gold"}})
    await set_times(api, "later", 20, 20)
    await add_session(api, "silver", metadata={"customer": {"tier": "silver"}})
    await set_times(api, "silver", -2, -2)
    walked: list[str] = []
    before = last["pageInfo"]["startCursor"]
    while True:
        page = (await api.data(SESSIONS, {"f": gold, "last": 2, "before": before}))["sessions"]
        walked = [edge["node"]["sessionId"] for edge in page["edges"]] + walked
        assert page["totalCount"] == 5
        assert page["pageInfo"]["hasNextPage"] is True
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert walked == ["early", "s0"]
    # Forward from the start of the list again sees the one added at the end.
    assert await listed(api, f=gold) == ["early", "s0", "s1", "s5", "later"]


FILTER_CHOICES: dict[str, tuple[dict[str, Any], Any]] = {
    "tea": ({"metadata": {"topic": "tea"}}, lambda topic, minute: topic == "tea"),
    "no-topic": ({"metadata": {"topic": None}}, lambda topic, minute: topic is None),
    "after-1": ({"createdAfter": iso(1)}, lambda topic, minute: minute > 1),
    "before-2": ({"createdBefore": iso(2)}, lambda topic, minute: minute < 2),
    "tea-from-1": (
        {"metadata": {"topic": "tea"}, "createdAfter": iso(0)},
        lambda topic, minute: topic == "tea" and minute > 0,
    ),
}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@for_all(
    sessions=st.lists(
        st.tuples(st.sampled_from(["tea", "coffee", None]), st.integers(0, 3)), max_size=12
    ),
    chosen=st.sampled_from(sorted(FILTER_CHOICES)),
    size=st.integers(1, 4),
)
async def test_walking_a_filtered_list_either_way_visits_exactly_its_sessions_in_order(
    sessions: list[tuple[str | None, int]], chosen: str, size: int
) -> None:
    """Creation times shared by several sessions too: ties are ordered by `_id`, and a page
    boundary among them loses and repeats nothing."""
    where, keeps = FILTER_CHOICES[chosen]
    async with running_app() as api:
        for index, (topic, minute) in enumerate(sessions):
            await add_session(api, f"s{index}", metadata={"topic": topic} if topic else {})
            await set_times(api, f"s{index}", minute, minute)
        order = await listed(api)
        expected = [session_id for session_id in order if keeps(*sessions[int(session_id[1:])])]
        for forward in (True, False):
            seen: list[str] = []
            cursor: str | None = None
            while True:
                page: dict[str, Any] = {"f": where, "first" if forward else "last": size}
                if cursor is not None:
                    page["after" if forward else "before"] = cursor
                connection = (await api.data(SESSIONS, page))["sessions"]
                assert connection["totalCount"] == len(expected)
                ids = [edge["node"]["sessionId"] for edge in connection["edges"]]
                seen = seen + ids if forward else ids + seen
                info = connection["pageInfo"]
                if not info["hasNextPage" if forward else "hasPreviousPage"]:
                    break
                assert len(ids) == size
                cursor = info["endCursor" if forward else "startCursor"]
            assert seen == expected, (forward, seen, expected)


async def test_a_cursor_taken_under_one_filter_is_a_position_under_another(
    api: GraphQLClient,
) -> None:
    """A cursor is a place in the list's order (createdAt, _id), whatever filter gave it: used
    with another filter it pages that filter's sessions from the same place, exactly."""
    await seed(api)
    page = await api.data(SESSIONS, {"f": {"metadata": {"topic": "coffee"}}, "first": 1})
    cursor = page["sessions"]["pageInfo"]["endCursor"]  # s1's
    tea = {"metadata": {"topic": "tea"}}
    assert await listed(api, f=tea, after=cursor) == ["s2", "s3", "s5"]
    backward = await api.data(SESSIONS, {"f": tea, "last": 10, "before": cursor})
    assert [edge["node"]["sessionId"] for edge in backward["sessions"]["edges"]] == ["s0"]
    assert backward["sessions"]["pageInfo"]["hasNextPage"] is True
    assert await listed(api, after=cursor) == ["s2", "s3", "s4", "s5"]


async def test_total_count_counts_the_filtered_set_at_every_level(api: GraphQLClient) -> None:
    await add_user(api, "alice")
    await add_user(api, "bob")
    await seed(api, "alice", "a-")
    await seed(api, "bob", "b-")
    tea = {"metadata": {"topic": "tea"}}
    data = await api.data(SESSIONS, {"f": tea, "first": 1})
    assert data["sessions"]["totalCount"] == 8
    data = await api.data(SESSIONS, {"f": tea, "first": 1, "userId": "bob"})
    assert data["sessions"]["totalCount"] == 4
    nested = await api.data(
        "query($f: SessionFilter) { users { edges { node { userId "
        "sessions(first: 1, filter: $f) { totalCount } } } } }",
        {"f": {**tea, "updatedAfter": iso(4)}},
    )
    assert [edge["node"] for edge in nested["users"]["edges"]] == [
        {"userId": "alice", "sessions": {"totalCount": 3}},
        {"userId": "bob", "sessions": {"totalCount": 3}},
    ]


NESTED_ALIASES = """
query($one: SessionFilter, $yes: SessionFilter, $gold: SessionFilter) {
  users(first: 10) {
    edges { node {
      userId
      one: sessions(filter: $one) { totalCount edges { node { sessionId } } }
      yes: sessions(filter: $yes) { totalCount edges { node { sessionId } } }
      gold: sessions(filter: $gold, first: 1) {
        totalCount edges { node { sessionId } } pageInfo { hasNextPage }
      }
      all: sessions { totalCount }
    } }
  }
}
"""


async def test_nested_user_sessions_are_filtered_per_alias_over_several_users(
    api: GraphQLClient,
) -> None:
    """Two aliases whose filters Python holds equal (`{flag: 1}` and `{flag: true}`, since
    `1 == True`) are still two batches: neither gets the other's answer."""
    for user in ("u0", "u1", "u2"):
        await add_user(api, user)
        await seed(api, user, f"{user}-")
    await add_session(api, "u1-extra", userId="u1", metadata={"flag": 1})
    data = await api.data(
        NESTED_ALIASES,
        {
            "one": {"metadata": {"flag": 1}},
            "yes": {"metadata": {"flag": True}},
            "gold": {"metadata": {"customer": {"tier": "gold"}}},
        },
    )
    rows = {edge["node"]["userId"]: edge["node"] for edge in data["users"]["edges"]}
    assert set(rows) == {"u0", "u1", "u2"}
    for user, row in rows.items():
        ones = [f"{user}-s3", *([f"{user}-extra"] if user == "u1" else [])]
        assert [edge["node"]["sessionId"] for edge in row["one"]["edges"]] == ones
        assert row["one"]["totalCount"] == len(ones)
        assert [edge["node"]["sessionId"] for edge in row["yes"]["edges"]] == [f"{user}-s2"]
        assert row["yes"]["totalCount"] == 1
        assert [edge["node"]["sessionId"] for edge in row["gold"]["edges"]] == [f"{user}-s0"]
        assert row["gold"]["totalCount"] == 3
        assert row["gold"]["pageInfo"]["hasNextPage"] is True
        assert row["all"]["totalCount"] == len(SEEDED) + (user == "u1")


async def test_each_filtered_alias_is_one_batch_for_all_users(api: GraphQLClient) -> None:
    """A level's differently filtered selections are each read for every user at once: one
    aggregate each on MongoDB (the union plan), one query per user each on the embedded store
    (its per-parent plan)."""
    for user in ("u0", "u1", "u2"):
        await add_user(api, user)
        await seed(api, user, f"{user}-")
    with counting_calls() as calls:
        await api.data(
            "query($a: SessionFilter, $b: SessionFilter) { users { edges { node { "
            "a: sessions(filter: $a) { edges { node { sessionId } } } "
            "b: sessions(filter: $b) { edges { node { sessionId } } } } } } }",
            {"a": {"metadata": {"topic": "tea"}}, "b": {"createdAfter": iso(3)}},
        )
    expected = ["sessions.aggregate"] * 2 if ON_MONGODB else ["sessions.find"] * 6
    assert calls.of("sessions") == expected


def test_filters_equal_in_python_are_different_batch_keys() -> None:
    one, yes, one_float = (SessionFilter(metadata={"flag": value}) for value in (1, True, 1.0))
    assert len({one, yes, one_float}) == 3
    assert SessionFilter(metadata={"a": 1, "b": {"c": 2}}) == SessionFilter(
        metadata={"b": {"c": 2}, "a": 1}
    )


async def test_a_user_token_sees_only_its_own_filtered_sessions(world: World) -> None:
    for session in ("a1", "a2", "b1", "free"):
        await world.admin.data(
            "mutation($s: String!) { updateSession(input: {sessionId: $s, "
            'metadata: {topic: "tea"}}) { session { sessionId } } }',
            {"s": session},
        )
    tea = {"metadata": {"topic": "tea"}}
    assert await listed(world.admin, f=tea) == ["a1", "a2", "b1", "free"]
    assert await listed(world.alice, f=tea) == ["a1", "a2"]
    assert await listed(world.bob, f=tea) == ["b1"]
    assert await listed(world.alice, f=tea, userId="alice") == ["a1", "a2"]
    error = await world.alice.error(SESSIONS, {"f": tea, "userId": "bob", "first": 10})
    assert error["extensions"]["code"] == "FORBIDDEN"
    nested = await world.alice.data(
        "query($f: SessionFilter) { users { edges { node { userId "
        "sessions(filter: $f) { totalCount edges { node { sessionId } } } } } } }",
        {"f": tea},
    )
    assert [edge["node"] for edge in nested["users"]["edges"]] == [
        {
            "userId": "alice",
            "sessions": {
                "totalCount": 2,
                "edges": [{"node": {"sessionId": "a1"}}, {"node": {"sessionId": "a2"}}],
            },
        }
    ]


async def test_deleted_sessions_never_match(api: GraphQLClient) -> None:
    await add_user(api, "alice")
    await seed(api, "alice")
    await api.data('mutation { deleteSession(sessionId: "s2") { deletedId } }')
    tea = {"metadata": {"topic": "tea"}}
    assert await listed(api, f=tea) == ["s0", "s3", "s5"]
    assert await listed(api, f={**tea, "updatedAfter": iso(9)}) == ["s0"]
    nested = await api.data(
        'query($f: SessionFilter) { user(userId: "alice") { sessions(filter: $f) '
        "{ totalCount edges { node { sessionId } } } } }",
        {"f": tea},
    )
    sessions = nested["user"]["sessions"]
    assert sessions["totalCount"] == 3
    assert [edge["node"]["sessionId"] for edge in sessions["edges"]] == ["s0", "s3", "s5"]
    await api.data('mutation { deleteUser(userId: "alice") { deletedId } }')
    assert await listed(api, f=tea) == []


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("dollar-key", {"metadata": {"$where": "1"}}, "filter.metadata.$where"),
    ("nested-dollar-key", {"metadata": {"a": {"$gt": 1}}}, "filter.metadata.a.$gt"),
    ("dotted-key", {"metadata": {"a.b": 1}}, "filter.metadata.a.b"),
    ("empty-key", {"metadata": {"": 1}}, "filter.metadata"),
    ("empty-object", {"metadata": {"a": {}}}, "filter.metadata.a"),
    ("not-an-object", {"metadata": ["tea"]}, "filter.metadata"),
    ("too-deep", {"metadata": _deep(17)}, "filter.metadata" + ".k" * 16),
    (
        "too-many-paths",
        {"metadata": {f"k{i}": i for i in range(MAX_FILTER_PATHS + 1)}},
        "filter.metadata",
    ),
    ("empty-range", {"createdAfter": iso(3), "createdBefore": iso(3)}, "filter.createdBefore"),
    ("reversed-range", {"createdAfter": iso(4), "createdBefore": iso(3)}, "filter.createdBefore"),
]


@pytest.mark.parametrize(
    ("where", "field"), [(g, f) for _, g, f in REFUSED], ids=[r[0] for r in REFUSED]
)
async def test_a_bad_filter_is_bad_user_input_everywhere_and_changes_nothing(
    api: GraphQLClient, where: dict[str, Any], field: str
) -> None:
    await add_user(api, "alice")
    await seed(api, "alice")
    before = await snapshot(api)
    error = await api.error(SESSIONS, {"f": where, "first": 10})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, error
    nested = await api.error(
        'query($f: SessionFilter) { user(userId: "alice") { sessions(filter: $f) '
        "{ totalCount } } }",
        {"f": where},
    )
    assert nested["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    # In a mutation's payload it is refused before the write.
    refused = await api.error(
        'mutation($f: SessionFilter) { addSession(input: {sessionId: "new", userId: '
        '"alice"}) { session { user { sessions(filter: $f) { totalCount } } } } }',
        {"f": where},
    )
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"
    assert refused["extensions"]["field"] == field
    assert await snapshot(api) == before


async def test_a_filter_time_that_is_not_a_date_time_is_bad_user_input(api: GraphQLClient) -> None:
    await seed(api)
    body = await api.post(SESSIONS, {"f": {"createdAfter": "yesterday"}, "first": 1})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "data" not in body or body["data"] is None


@pytest.mark.skipif(ON_MONGODB, reason="the embedded store's own plans")
async def test_the_embedded_store_reads_only_the_users_sessions_for_a_filtered_list(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the embedded store a filtered list of one user's sessions reads that user's live
    sessions from the (userId, deletedAt) index, never the whole collection: at the root, in
    `User.sessions` and for `totalCount`."""
    users, per_user = 100, 30
    now = datetime(2020, 1, 1)
    await api.store.db.users.insert_many(
        [
            {"userId": f"u{u}", "metadata": {}, "createdAt": now, "updatedAt": now}
            for u in range(users)
        ]
    )
    await api.store.db.sessions.insert_many(
        [
            {
                "sessionId": f"u{u}-s{s}",
                "userId": f"u{u}",
                "metadata": {"topic": "tea" if s % 3 == 0 else "coffee"},
                "createdAt": now + timedelta(seconds=s),
                "updatedAt": now,
                "memorySeq": 0,
            }
            for u in range(users)
            for s in range(per_user)
        ]
    )
    tested = 0
    original: Any = mongomock.filtering.filter_applies

    def counting(spec: Any, document: Any) -> bool:
        nonlocal tested
        tested += 1
        return bool(original(spec, document))

    monkeypatch.setattr(mongomock.filtering, "filter_applies", counting)
    tea = {"metadata": {"topic": "tea"}, "createdAfter": "2020-01-01T00:00:02Z"}
    data = await api.data(SESSIONS, {"f": tea, "userId": "u7", "first": 3})
    assert [edge["node"]["sessionId"] for edge in data["sessions"]["edges"]] == [
        "u7-s3",
        "u7-s6",
        "u7-s9",
    ]
    assert data["sessions"]["totalCount"] == 9
    assert tested <= 3 * per_user, tested
    tested = 0
    nested = await api.data(
        'query($f: SessionFilter) { user(userId: "u7") { sessions(filter: $f, first: 3) '
        "{ totalCount edges { node { sessionId } } } } }",
        {"f": tea},
    )
    assert nested["user"]["sessions"]["totalCount"] == 9
    assert tested <= 3 * per_user + 5, tested


def _stages(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every stage of an explained plan, outermost first."""
    found = [plan]
    for name in ("inputStage", "queryPlan"):
        if isinstance(plan.get(name), dict):
            found += _stages(plan[name])
    for child in plan.get("inputStages", []):
        found += _stages(child)
    return found


@requires_mongodb
async def test_on_mongodb_a_filtered_page_walks_the_listing_index_with_metadata_residual(
    api: GraphQLClient,
) -> None:
    """The listing indexes serve a filtered list: one user's page is an index scan of
    (userId, deletedAt, createdAt, _id) bounded by the creation times, metadata and
    updatedAt tested on the sessions it fetches; the list of every user's sessions scans
    (deletedAt, createdAt, _id)."""
    for user in ("alice", "bob"):
        await add_user(api, user)
        await seed(api, user, f"{user}-")
    where = SessionFilter(
        metadata={"topic": "tea", "customer": {"tier": "gold"}},
        created_after=at(0),
        created_before=at(30),
        updated_after=at(1),
    )
    db = api.store.db.db
    for user_id, index in (
        ("alice", "userId_deletedAt_createdAt_id"),
        (None, "deletedAt_createdAt_id"),
    ):
        query = api.store.sessions.list(user_id=user_id, where=where)
        page = await query.page(PageRequest(limit=2))
        assert [doc.session_id for doc in page.items] == (
            ["alice-s5"] if user_id else ["alice-s5", "bob-s5"]
        )
        explained = await db.command(
            "explain",
            {
                "find": "sessions",
                "filter": query.base,
                "sort": {"createdAt": 1, "_id": 1},
                "limit": 3,
            },
        )
        stages = _stages(explained["queryPlanner"]["winningPlan"])
        names = [stage["stage"] for stage in stages]
        # (A SORT stage above it is SecantusDB's: its explain reports one for any sort of
        # two keys; mongod reads these in the index's order, createdAt and _id following the
        # equality keys.)
        assert "COLLSCAN" not in names, stages
        [fetch] = [stage for stage in stages if stage["stage"] == "FETCH"]
        assert "metadata.topic" in str(fetch.get("filter")), fetch
        assert "updatedAt" in str(fetch.get("filter")), fetch
        [scan] = [stage for stage in stages if stage["stage"] == "IXSCAN"]
        assert scan["indexName"] == index, scan
        assert await query.count() == (1 if user_id else 2)


async def test_added_memories_make_a_session_updated_after(api: GraphQLClient) -> None:
    await seed(api)
    assert await listed(api, f={"updatedAfter": iso(20)}) == []
    await api.data(
        ADD_MEMORY, {"input": {"sessionId": "s1", "memories": [{"role": "h", "content": "x"}]}}
    )
    assert await listed(api, f={"updatedAfter": iso(20)}) == ["s1"]


README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


async def test_the_readmes_filter_example_finds_what_it_describes(api: GraphQLClient) -> None:
    section = README.split("## Filtering sessions", 1)[1].split("\n## ", 1)[0]
    example = section.split("```graphql\n", 1)[1].split("```", 1)[0]
    await add_user(api, "alice")
    await add_session(api, "gold-tea", userId="alice", metadata=SEEDED[0][1])
    await add_session(api, "silver-tea", userId="alice", metadata=SEEDED[2][1])
    await set_times(api, "silver-tea", 0, 0)
    data = await api.data(example.replace("2026-11-01", "2020-11-01").replace("2026-12", "2020-12"))
    assert data["sessions"]["totalCount"] == 1
    assert [edge["node"]["sessionId"] for edge in data["sessions"]["edges"]] == ["gold-tea"]
