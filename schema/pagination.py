"""Relay connections, declared once each: a `Paging` names a list's cursor kind and sort order,
and `connection_field(paging)` makes a field a connection of it — its first/after/last/before
arguments, their checks, and the cost the query limits count for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any, Generic, Protocol, TypeVar

import strawberry
from strawberry.annotation import StrawberryAnnotation
from strawberry.extensions.field_extension import AsyncExtensionResolver, FieldExtension
from strawberry.types import Info
from strawberry.types.arguments import StrawberryArgument
from strawberry.types.field import StrawberryField

from app.errors import BadUserInput
from app.store.keyset import KeysetQuery, Page, PageRequest, SortKey, SortOrder
from app.store.memories import MemoryStore
from app.store.sessions import SessionStore
from app.store.users import UserStore
from app.validation import check_page_size
from schema.cursors import decode_cursor, encode_cursor
from schema.filters import check_coerced_filter
from schema.lazy import Lazy

N = TypeVar("N")
D = TypeVar("D")

Flag = Callable[[], Awaitable[bool]]

COST = "memql.cost"
"""The key of a field's metadata under which its cost (`Paging` or `ListSize`) is declared."""


@strawberry.type(description="Where a page sits in its list (Relay Cursor Connections).")
class PageInfo:
    start_cursor: str | None
    end_cursor: str | None
    # Known from the page itself, or queried when awaited (the flag beyond the start cursor):
    # attributes, not resolvers, since most are known and a resolver costs every call.
    has_next_page: bool | Awaitable[bool] = strawberry.field(
        description="More nodes follow `endCursor`.", graphql_type=bool
    )
    has_previous_page: bool | Awaitable[bool] = strawberry.field(
        description="More nodes precede `startCursor`.", graphql_type=bool
    )


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo
    total_count: int | Awaitable[int] = strawberry.field(
        description="All nodes of the list; computed only when selected.", graphql_type=int
    )


class PageSizes(Protocol):
    """The page size settings (`Settings`, or the `QueryLimits` the schema is built from)."""

    @property
    def default_page_size(self) -> int: ...

    @property
    def max_page_size(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Paging:
    """One kind of list: its cursors' kind and the sort order they encode; `check_filter`
    checks the `filter` argument of a list that takes one, as execution coerced it."""

    kind: str
    order: SortOrder
    _: KW_ONLY
    forward_only: bool = False
    """Only first/after (a ranking, read from its start): no last/before arguments."""
    check_filter: Callable[[Any], None] | None = None

    def request(
        self,
        sizes: PageSizes,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> PageRequest:
        """Check Relay arguments against the limits and turn cursors back into sort keys."""
        if first is not None and last is not None:
            raise BadUserInput("give first or last, not both", field="last")
        for size, name in ((first, "first"), (last, "last")):
            if size is not None:
                check_page_size(size, name, sizes.max_page_size)
        limit = (
            last if last is not None else first if first is not None else sizes.default_page_size
        )
        return PageRequest(
            limit=limit,
            backward=last is not None,
            after=self.decode(after, "after") if after is not None else None,
            before=self.decode(before, "before") if before is not None else None,
        )

    def check(self, sizes: PageSizes, arguments: Mapping[str, Any]) -> None:
        """Every check the list's resolver makes of these arguments (as execution coerced
        them): for a mutation's payload, before the write (BadUserInput)."""
        self.request(
            sizes,
            first=arguments.get("first"),
            after=arguments.get("after"),
            last=arguments.get("last"),
            before=arguments.get("before"),
        )
        if self.check_filter is not None:
            self.check_filter(arguments.get("filter"))

    def page_size(self, sizes: PageSizes, arguments: dict[str, Any]) -> int:
        """The most nodes a page with these arguments holds, as the node limit counts it: the
        resolver refuses a size over the maximum, so the estimate clamps it."""
        given: list[int] = [
            arguments[name] for name in ("first", "last") if arguments.get(name) is not None
        ]
        if not given:
            return sizes.default_page_size
        return min(max(max(given), 0), sizes.max_page_size)

    def cursor(self, key: SortKey) -> str:
        return encode_cursor(self.kind, self.order, key)

    def decode(self, cursor: str, field: str) -> SortKey:
        return decode_cursor(self.kind, self.order, cursor, field)

    def connection(
        self,
        page: Page[D],
        request: PageRequest,
        to_node: Callable[[D], N],
        *,
        behind: Flag,
        counter: Callable[[], Awaitable[int]],
    ) -> Connection[N]:
        """Wrap a page; `behind` (items beyond the start cursor) and `counter` are awaited only
        if the client selects the flag or the count."""
        cursors = [self.cursor(key) for key in page.keys]
        more_ahead = page.has_more
        behind_flag: bool | Awaitable[bool] = Lazy(behind) if request.start is not None else False
        return Connection(
            edges=[
                Edge(cursor=cursor, node=to_node(item))
                for cursor, item in zip(cursors, page.items, strict=True)
            ],
            page_info=PageInfo(
                start_cursor=cursors[0] if cursors else None,
                end_cursor=cursors[-1] if cursors else None,
                has_next_page=behind_flag if request.backward else more_ahead,
                has_previous_page=more_ahead if request.backward else behind_flag,
            ),
            total_count=Lazy(counter),
        )

    async def resolve(
        self, query: KeysetQuery[D], request: PageRequest, to_node: Callable[[D], N]
    ) -> Connection[N]:
        """One page of a top-level list with one range query."""
        page = await query.page(request)

        async def behind() -> bool:
            return await query.any_behind(request)

        return self.connection(page, request, to_node, behind=behind, counter=query.count)


USERS = Paging("user", UserStore.order)
SESSIONS = Paging("session", SessionStore.order, check_filter=check_coerced_filter)
MEMORIES = Paging("memory", MemoryStore.order)


@dataclass(frozen=True, slots=True)
class ListSize:
    """A list field as long as a list argument, which the node limit counts a node per item:
    `argument` is a dotted path into the field's own arguments, or with `of_parent` into those
    of the field that returned its parent (a payload's list of what its mutation was given)."""

    argument: str
    of_parent: bool = False


def _page_arguments(paging: Paging) -> list[StrawberryArgument]:
    arguments = [("first", int | None), ("after", str | None)]
    if not paging.forward_only:
        arguments += [("last", int | None), ("before", str | None)]
    return [
        StrawberryArgument(name, None, StrawberryAnnotation(annotation), default=None)
        for name, annotation in arguments
    ]


class PageArguments(FieldExtension):
    """Gives a connection field Relay's first/after/last/before arguments, checks them, and
    hands the resolver the page they ask for as its `page` parameter."""

    def __init__(self, paging: Paging) -> None:
        self.paging = paging

    def apply(self, field: StrawberryField) -> None:
        others = [argument for argument in field.arguments if argument.python_name != "page"]
        field.arguments = [*_page_arguments(self.paging), *others]

    async def resolve_async(
        self,
        next_: AsyncExtensionResolver,
        source: Any,
        info: Info,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        **kwargs: Any,
    ) -> Any:
        page = self.paging.request(
            info.context.settings, first=first, after=after, last=last, before=before
        )
        return await next_(source, info, page=page, **kwargs)


def connection_field(paging: Paging, *, description: str) -> Any:
    """A connection field of `paging`; its resolver takes `page: PageRequest`."""
    return strawberry.field(
        description=description,
        extensions=[PageArguments(paging)],
        metadata={COST: paging},
    )


def sized_list_field(size: ListSize, **options: Any) -> Any:
    """A list field whose length the request fixes, declared for the node limit."""
    return strawberry.field(metadata={COST: size}, **options)
