"""Keyset (seek) pagination over a sorted, indexed key: one range query per page, never `skip`.
The children of many parents at once are in app.store.child_lists, and Zep's offset pages in
app.store.offset_pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING

from app.clock import as_utc
from app.db import Collection, Document
from app.store.filters import all_of

T = TypeVar("T")
SortKey = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class SortOrder:
    """The fields a list is sorted by and the type of each, which is also the shape of its
    cursors' keys (schema.cursors encodes and decodes them by these types)."""

    fields: tuple[str, ...]
    types: tuple[type, ...]

    def key_of(self, raw: Document) -> SortKey:
        return tuple(
            as_utc(raw[name]) if isinstance(raw[name], datetime) else raw[name]
            for name in self.fields
        )


BY_CREATION = SortOrder(("createdAt", "_id"), (datetime, ObjectId))
"""Oldest first, ties by `_id`: users and sessions."""
BY_SEQ = SortOrder(("seq",), (int,))
"""Position in the session: memories."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    """`limit` items after `after` and before `before`; `backward` takes the last ones."""

    limit: int
    backward: bool = False
    after: SortKey | None = None
    before: SortKey | None = None

    @property
    def start(self) -> SortKey | None:
        """The cursor the page starts from: what lies beyond it is `Page.has_more`'s opposite."""
        return self.before if self.backward else self.after


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    keys: list[SortKey]
    has_more: bool
    """Exact: more items exist beyond the page in the paging direction."""


def _compare(fields: tuple[str, ...], key: SortKey, op: str, inclusive: bool) -> Document:
    """A filter for `(fields) op key` in lexicographic order, e.g. createdAt then _id."""
    clauses: list[Document] = []
    for index, name in enumerate(fields):
        clause: Document = {fields[j]: key[j] for j in range(index)}
        last = index == len(fields) - 1
        clause[name] = {op + ("e" if inclusive and last else ""): key[index]}
        clauses.append(clause)
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def between_cursors(fields: tuple[str, ...], request: PageRequest) -> list[Document]:
    """The conditions that keep a page between its cursors."""
    conditions = []
    if request.after is not None:
        conditions.append(_compare(fields, request.after, "$gt", False))
    if request.before is not None:
        conditions.append(_compare(fields, request.before, "$lt", False))
    return conditions


def behind_cursor(fields: tuple[str, ...], start: SortKey, backward: bool) -> Document:
    """What lies on the far side of a page's start cursor, the cursor's own item included."""
    return _compare(fields, start, "$gt" if backward else "$lt", True)


class KeysetQuery(Generic[T]):
    """The documents of `collection` matching `base`, in `order`; `projection`, when given,
    is what of each document is read."""

    def __init__(
        self,
        collection: Collection,
        base: Document,
        order: SortOrder,
        decode: Callable[[Document], T],
        projection: Document | None = None,
    ) -> None:
        self.collection = collection
        self.base = base
        self.order = order
        self.fields = order.fields
        self.decode = decode
        self.projection = projection

    async def page(self, request: PageRequest) -> Page[T]:
        direction = DESCENDING if request.backward else ASCENDING
        cursor = (
            self.collection.find(
                all_of(self.base, *between_cursors(self.fields, request)), self.projection
            )
            .sort([(name, direction) for name in self.fields])
            .limit(request.limit + 1)
        )
        raws = await cursor.to_list(None)
        has_more = len(raws) > request.limit
        raws = raws[: request.limit]
        if request.backward:
            raws.reverse()
        return Page(
            items=[self.decode(raw) for raw in raws],
            keys=[self.order.key_of(raw) for raw in raws],
            has_more=has_more,
        )

    async def any_behind(self, request: PageRequest) -> bool:
        """Exact, one query: items exist on the other side of the page's start cursor."""
        start = request.start
        if start is None:
            return False
        # Sorted by the list's own order, so that an index in that order reads one entry.
        found = await self.collection.find_one(
            all_of(self.base, behind_cursor(self.fields, start, request.backward)),
            {"_id": 1},
            sort=[(name, ASCENDING) for name in self.fields],
        )
        return found is not None

    async def count(self) -> int:
        return await self.collection.count_documents(self.base)
