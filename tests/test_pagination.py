"""Relay keyset pagination: complete, ordered walks both ways, stable under writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.client import GraphQLClient, running_app
from tests.support.data import add_memories, add_session, add_user

PAGE_FIELDS = (
    "edges { cursor node { key: %s } } "
    "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
)


@dataclass(frozen=True)
class ListKind:
    """How to reach one kind of connection and what identifies its nodes."""

    name: str
    wrap: str  # the query with {args} where the connection's arguments go
    path: tuple[str, ...]
    key: str

    def query(self, args: dict[str, Any]) -> str:
        rendered = ", ".join(
            f'{name}: "{value}"' if isinstance(value, str) else f"{name}: {value}"
            for name, value in args.items()
        )
        return (
            "{ "
            + self.wrap.format(
                args=f"({rendered})" if rendered else "", fields=PAGE_FIELDS % self.key
            )
            + " }"
        )

    def extract(self, data: dict[str, Any]) -> dict[str, Any]:
        for name in self.path:
            data = data[name]
        return data


USERS = ListKind("users", "users{args} {{ {fields} }}", ("users",), "userId")
SESSIONS = ListKind("sessions", "sessions{args} {{ {fields} }}", ("sessions",), "sessionId")
MEMORIES = ListKind(
    "memories",
    'session(sessionId: "s") {{ memories{args} {{ {fields} }} }}',
    ("session", "memories"),
    "content",
)
KINDS = {kind.name: kind for kind in (USERS, SESSIONS, MEMORIES)}


async def seed(api: GraphQLClient, kind: ListKind, count: int) -> list[str]:
    names = [f"n{index:03d}" for index in range(count)]
    if kind is MEMORIES:
        await add_session(api, "s")
        for start in range(0, count, 7):  # several calls: order must hold across them
            await add_memories(api, "s", names[start : start + 7])
    else:
        for name in names:
            await (add_user if kind is USERS else add_session)(api, name)
    return names


async def fetch_page(api: GraphQLClient, kind: ListKind, **args: Any) -> dict[str, Any]:
    return kind.extract(await api.data(kind.query(args)))


async def walk(api: GraphQLClient, kind: ListKind, size: int, *, forward: bool) -> list[str]:
    """Walk the whole list page by page, checking every page's flags and cursors on the way."""
    seen: list[str] = []
    cursor: str | None = None
    for page_number in range(1000):
        args: dict[str, Any] = {"first" if forward else "last": size}
        if cursor is not None:
            args["after" if forward else "before"] = cursor
        page = await fetch_page(api, kind, **args)
        keys = [edge["node"]["key"] for edge in page["edges"]]
        info = page["pageInfo"]
        cursors = [edge["cursor"] for edge in page["edges"]]
        assert info["startCursor"] == (cursors[0] if cursors else None)
        assert info["endCursor"] == (cursors[-1] if cursors else None)
        ahead, behind = (
            (info["hasNextPage"], info["hasPreviousPage"])
            if forward
            else (info["hasPreviousPage"], info["hasNextPage"])
        )
        assert behind == (page_number > 0), (page_number, info)
        seen = seen + keys if forward else keys + seen
        if not ahead:
            return seen
        assert len(keys) == size
        cursor = info["endCursor"] if forward else info["startCursor"]
    raise AssertionError("the walk did not end")


@pytest.mark.slow
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(sorted(KINDS)),
    count=st.integers(0, 23),
    size=st.integers(1, 8),
)
async def test_walking_forward_and_backward_visits_every_node_once_in_order(
    kind: str, count: int, size: int
) -> None:
    async with running_app() as api:
        names = await seed(api, KINDS[kind], count)
        assert await walk(api, KINDS[kind], size, forward=True) == names
        assert await walk(api, KINDS[kind], size, forward=False) == names


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(1, 20),
    size=st.integers(1, 6),
    forward=st.booleans(),
    changes=st.lists(st.tuples(st.booleans(), st.integers(0, 1000)), min_size=1, max_size=10),
)
async def test_adding_and_deleting_between_pages_never_repeats_or_skips(
    count: int, size: int, forward: bool, changes: list[tuple[bool, int]]
) -> None:
    async with running_app() as api:
        names = await seed(api, SESSIONS, count)
        live = list(names)
        deleted: set[str] = set()
        seen: list[str] = []
        cursor: str | None = None
        for step in range(200):
            args: dict[str, Any] = {"first" if forward else "last": size}
            if cursor is not None:
                args["after" if forward else "before"] = cursor
            page = await fetch_page(api, SESSIONS, **args)
            keys = [edge["node"]["key"] for edge in page["edges"]]
            seen = seen + keys if forward else keys + seen
            info = page["pageInfo"]
            if not (info["hasNextPage"] if forward else info["hasPreviousPage"]):
                break
            cursor = info["endCursor"] if forward else info["startCursor"]
            if step < len(changes):
                add, pick = changes[step]
                if add:
                    name = f"added{step}"
                    await add_session(api, name)
                    live.append(name)
                elif live:
                    victim = live.pop(pick % len(live))
                    await api.data(
                        f'mutation {{ deleteSession(sessionId: "{victim}") {{ deletedId }} }}'
                    )
                    deleted.add(victim)
        assert len(seen) == len(set(seen)), seen
        untouched = [name for name in names if name not in deleted]
        assert [name for name in seen if name in untouched] == untouched
        # Whatever else was seen is in list order: originals first, in creation order.
        order = {name: index for index, name in enumerate(names)}
        ranks = [
            order[name] if name in order else len(names) + int(name.removeprefix("added"))
            for name in seen
        ]
        assert ranks == sorted(ranks)


async def test_default_page_size_applies_without_first_or_last(api: GraphQLClient) -> None:
    names = await seed(api, USERS, 25)
    page = await fetch_page(api, USERS)
    assert [edge["node"]["key"] for edge in page["edges"]] == names[:20]
    assert page["pageInfo"]["hasNextPage"] is True


async def test_first_zero_gives_no_edges_but_exact_flags(api: GraphQLClient) -> None:
    await seed(api, USERS, 2)
    page = await fetch_page(api, USERS, first=0)
    assert page["edges"] == []
    assert page["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }


async def test_after_and_before_together_bound_the_page(api: GraphQLClient) -> None:
    await seed(api, MEMORIES, 10)
    everything = await fetch_page(api, MEMORIES, first=10)
    cursors = [edge["cursor"] for edge in everything["edges"]]
    page = await fetch_page(api, MEMORIES, first=10, after=cursors[2], before=cursors[6])
    assert [edge["node"]["key"] for edge in page["edges"]] == ["n003", "n004", "n005"]
    assert page["pageInfo"]["hasNextPage"] is False


async def test_total_count_ignores_cursors(api: GraphQLClient) -> None:
    await seed(api, SESSIONS, 5)
    data = await api.data("{ sessions(first: 2) { totalCount edges { cursor } } }")
    assert data["sessions"]["totalCount"] == 5


async def test_memories_last_with_before_pages_back(api: GraphQLClient) -> None:
    await seed(api, MEMORIES, 12)
    latest = await fetch_page(api, MEMORIES, last=5)
    assert [e["node"]["key"] for e in latest["edges"]] == [f"n{i:03d}" for i in range(7, 12)]
    assert latest["pageInfo"]["hasPreviousPage"] is True
    assert latest["pageInfo"]["hasNextPage"] is False
    older = await fetch_page(api, MEMORIES, last=5, before=latest["pageInfo"]["startCursor"])
    assert [e["node"]["key"] for e in older["edges"]] == [f"n{i:03d}" for i in range(2, 7)]
    assert older["pageInfo"]["hasNextPage"] is True


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"first": 101}, "first"),
        ({"last": 101}, "last"),
        ({"first": -1}, "first"),
        ({"last": -5}, "last"),
        ({"first": 1, "last": 1}, "last"),
        ({"after": "not a cursor"}, "after"),
        ({"before": ""}, "before"),
        ({"after": "bWVtb3J5OjE"}, "after"),
    ],
)
async def test_bad_pagination_arguments_are_bad_user_input(
    api: GraphQLClient, args: dict[str, Any], field: str
) -> None:
    error = await api.error(USERS.query(args))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_a_cursor_from_another_connection_is_refused(api: GraphQLClient) -> None:
    await seed(api, MEMORIES, 2)
    memory_cursor = (await fetch_page(api, MEMORIES, first=1))["edges"][0]["cursor"]
    session_cursor = (await fetch_page(api, SESSIONS, first=1))["edges"][0]["cursor"]
    for kind, cursor in (
        (SESSIONS, memory_cursor),
        (USERS, session_cursor),
        (MEMORIES, session_cursor),
    ):
        error = await api.error(kind.query({"after": cursor}))
        assert error["extensions"]["code"] == "BAD_USER_INPUT", kind.name


async def test_a_tampered_cursor_is_refused(api: GraphQLClient) -> None:
    await seed(api, SESSIONS, 2)
    cursor = (await fetch_page(api, SESSIONS, first=1))["edges"][0]["cursor"]
    for position in range(len(cursor)):
        replacement = "A" if cursor[position] != "A" else "B"
        tampered = cursor[:position] + replacement + cursor[position + 1 :]
        body = await api.post(SESSIONS.query({"after": tampered}))
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", tampered


async def test_page_size_limit_follows_the_setting() -> None:
    from tests.support.stores import make_settings

    async with running_app(make_settings(max_page_size=5, default_page_size=3)) as api:
        await seed(api, USERS, 7)
        assert len((await fetch_page(api, USERS))["edges"]) == 3
        assert len((await fetch_page(api, USERS, first=5))["edges"]) == 5
        error = await api.error(USERS.query({"first": 6}))
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "5" in error["message"]
