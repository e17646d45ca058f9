"""Keyset (seek) pagination over a sorted, indexed key: one range query per page, never `skip`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pymongo import ASCENDING, DESCENDING

from app.db import Collection, Document
from app.documents import as_utc

T = TypeVar("T")
SortKey = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class PageRequest:
    """`limit` items after `after` and before `before`; `backward` takes the last ones."""

    limit: int
    backward: bool = False
    after: SortKey | None = None
    before: SortKey | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    keys: list[SortKey]
    has_more: bool
    """Exact: more items exist beyond the page in the paging direction."""
    has_more_behind: Callable[[], Awaitable[bool]]
    """Exact, one extra query when awaited: items exist on the other side of the start cursor."""


def _compare(fields: tuple[str, ...], key: SortKey, op: str, inclusive: bool) -> Document:
    """A filter for `(fields) op key` in lexicographic order, e.g. createdAt then _id."""
    clauses: list[Document] = []
    for index, name in enumerate(fields):
        clause: Document = {fields[j]: key[j] for j in range(index)}
        last = index == len(fields) - 1
        clause[name] = {op + ("e" if inclusive and last else ""): key[index]}
        clauses.append(clause)
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


class KeysetQuery(Generic[T]):
    """The live documents of `collection` matching `base`, in the order of `fields`."""

    def __init__(
        self,
        collection: Collection,
        base: Document,
        fields: tuple[str, ...],
        decode: Callable[[Document], T],
    ) -> None:
        self.collection = collection
        self.base = base
        self.fields = fields
        self.decode = decode

    def key_of(self, raw: Document) -> SortKey:
        return tuple(
            as_utc(raw[name]) if isinstance(raw[name], datetime) else raw[name]
            for name in self.fields
        )

    def _filter(self, *conditions: Document | None) -> Document:
        parts = [self.base, *(c for c in conditions if c is not None)]
        return parts[0] if len(parts) == 1 else {"$and": parts}

    async def page(self, request: PageRequest) -> Page[T]:
        after = _compare(self.fields, request.after, "$gt", False) if request.after else None
        before = _compare(self.fields, request.before, "$lt", False) if request.before else None
        direction = DESCENDING if request.backward else ASCENDING
        cursor = (
            self.collection.find(self._filter(after, before))
            .sort([(name, direction) for name in self.fields])
            .limit(request.limit + 1)
        )
        raws = await cursor.to_list(None)
        has_more = len(raws) > request.limit
        raws = raws[: request.limit]
        if request.backward:
            raws.reverse()
        start = request.before if request.backward else request.after
        return Page(
            items=[self.decode(raw) for raw in raws],
            keys=[self.key_of(raw) for raw in raws],
            has_more=has_more,
            has_more_behind=self._probe(start, backward=request.backward),
        )

    def _probe(self, start: SortKey | None, *, backward: bool) -> Callable[[], Awaitable[bool]]:
        async def probe() -> bool:
            if start is None:
                return False
            op = "$gt" if backward else "$lt"
            found = await self.collection.find_one(
                self._filter(_compare(self.fields, start, op, True)), {"_id": 1}
            )
            return found is not None

        return probe

    async def count(self) -> int:
        return await self.collection.count_documents(self.base)
