"""Relay connections: argument checks, cursor decoding, and building a connection from a page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import strawberry

from app.errors import BadUserInput
from app.settings import Settings
from app.store.keyset import KeysetQuery, Page, PageRequest
from schema.ids import decode_cursor, encode_cursor

N = TypeVar("N")
D = TypeVar("D")

Flag = Callable[[], Awaitable[bool]]


@strawberry.type(description="Where a page sits in its list (Relay Cursor Connections).")
class PageInfo:
    start_cursor: str | None
    end_cursor: str | None
    next_flag: strawberry.Private[bool | Flag]
    previous_flag: strawberry.Private[bool | Flag]
    """Known from the page itself, or queried when awaited."""

    # Plain (not async) fields: most flags are known, and an awaitable costs a task.
    @strawberry.field(description="More nodes follow `endCursor`.", graphql_type=bool)
    def has_next_page(self) -> bool | Awaitable[bool]:
        return _flag(self.next_flag)

    @strawberry.field(description="More nodes precede `startCursor`.", graphql_type=bool)
    def has_previous_page(self) -> bool | Awaitable[bool]:
        return _flag(self.previous_flag)


def _flag(flag: bool | Flag) -> bool | Awaitable[bool]:
    return flag if isinstance(flag, bool) else flag()


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="All nodes of the list; computed only when selected.")
    async def total_count(self) -> int:
        return await self.counter()


def _check_size(value: int | None, name: str, settings: Settings) -> None:
    if value is None:
        return
    if value < 0:
        raise BadUserInput(f"{name} must not be negative", field=name)
    if value > settings.max_page_size:
        raise BadUserInput(
            f"{name} must be at most {settings.max_page_size} (the maximum page size)",
            field=name,
        )


def page_request(
    kind: str,
    settings: Settings,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> PageRequest:
    """Check Relay arguments against the limits and turn cursors back into sort keys."""
    if first is not None and last is not None:
        raise BadUserInput("give first or last, not both", field="last")
    _check_size(first, "first", settings)
    _check_size(last, "last", settings)
    limit = last if last is not None else first if first is not None else settings.default_page_size
    return PageRequest(
        limit=limit,
        backward=last is not None,
        after=decode_cursor(kind, after, "after") if after is not None else None,
        before=decode_cursor(kind, before, "before") if before is not None else None,
    )


def connection(
    kind: str,
    page: Page[D],
    request: PageRequest,
    to_node: Callable[[D], N],
    *,
    behind: Flag,
    counter: Callable[[], Awaitable[int]],
) -> Connection[N]:
    """Wrap a page; `behind` (items beyond the start cursor) and `counter` are awaited only if
    the client selects the flag or the count."""
    cursors = [encode_cursor(kind, key) for key in page.keys]
    more_ahead = page.has_more
    behind_flag: bool | Flag = behind if request.start is not None else False
    return Connection(
        edges=[
            Edge(cursor=cursor, node=to_node(item))
            for cursor, item in zip(cursors, page.items, strict=True)
        ],
        page_info=PageInfo(
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
            next_flag=behind_flag if request.backward else more_ahead,
            previous_flag=more_ahead if request.backward else behind_flag,
        ),
        counter=counter,
    )


async def resolve_connection(
    kind: str, query: KeysetQuery[D], request: PageRequest, to_node: Callable[[D], N]
) -> Connection[N]:
    """One page of a top-level list with one range query."""
    page = await query.page(request)

    async def behind() -> bool:
        return await query.any_behind(request)

    return connection(kind, page, request, to_node, behind=behind, counter=query.count)
