"""The children of many parents, each parent's page: users' sessions and sessions' memories, for
a nested connection's level at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

from pymongo import ASCENDING, DESCENDING

from app.db import Collection, Document
from app.store.filters import all_of
from app.store.keyset import (
    KeysetQuery,
    Page,
    PageRequest,
    SortOrder,
    behind_cursor,
    between_cursors,
)
from app.store.offset_pages import offset_page

T = TypeVar("T")
P = TypeVar("P", bound=Hashable)


# At most this many of a level's aggregates run at once: a nested query may have thousands of
# parents, and each aggregate holds a connection from the pool while it runs.
PER_PARENT_CONCURRENCY = 16
UNION_BATCH = 100
"""Parents one aggregate reads the pages of: its `$unionWith` stages, well under MongoDB's
limit of stages in a pipeline."""
R = TypeVar("R")


async def _bounded_gather(awaitables: Iterable[Awaitable[R]]) -> list[R]:
    semaphore = asyncio.Semaphore(PER_PARENT_CONCURRENCY)

    async def one(awaitable: Awaitable[R]) -> R:
        async with semaphore:
            return await awaitable

    return list(await asyncio.gather(*(one(awaitable) for awaitable in awaitables)))


class ChildLists(Generic[P, T]):
    """The children of many parents, each parent's in `order`: the sessions
    of users (`parent_field` userId) or the memories of sessions (sessionId).

    A nested connection asks the same page (the same first/last/after/before) of every parent
    on its level; each question below is answered by one of two plans, chosen by the database
    (`union`), measured in bench/README.md:

    - one aggregate whose `$unionWith` stages each read one parent's exact page (`limit + 1`
      children by its `$match`, `$sort` and `$limit`) — for MongoDB, where each is a short walk
      of the (parent, key) index and the whole level is one round trip (up to UNION_BATCH
      parents an aggregate), while one `$in` query would read every child past the cursor of
      every parent: ruinous for 100 sessions of thousands of memories each;
    - the exact query of `KeysetQuery` for each parent — for the embedded store, which has no
      `$unionWith` and no round trip: each is a call in this process that reads the parent's
      `limit + 1` children from its index (app.persistence.indexes).
    """

    def __init__(
        self,
        collection: Collection,
        parent_field: str,
        base: Document,
        order: SortOrder,
        decode: Callable[[Document], T],
        *,
        union: bool,
        visible: Callable[[Iterable[P]], Awaitable[set[P]]] | None = None,
        projection: Document | None = None,
    ) -> None:
        self.collection = collection
        self.projection = projection
        self.parent_field = parent_field
        self.visible = visible
        self.base = base
        self.order = order
        self.fields = order.fields
        self.decode = decode
        self.union = union

    def of(self, parent: P) -> KeysetQuery[T]:
        return KeysetQuery(
            self.collection,
            all_of({self.parent_field: parent}, self.base),
            self.order,
            self.decode,
            self.projection,
        )

    def _of_all(self, parents: list[P], *conditions: Document) -> Document:
        return all_of({self.parent_field: {"$in": parents}}, self.base, *conditions)

    def _of_one(self, parent: P, *conditions: Document) -> Document:
        return all_of({self.parent_field: parent}, self.base, *conditions)

    async def _union(
        self, parents: list[P], pipeline: Callable[[P], list[Document]]
    ) -> list[Document]:
        """What `pipeline(parent)` finds for each parent, in one aggregate per UNION_BATCH
        parents: the first parent's stages, then a `$unionWith` of each other's."""
        batches = [parents[i : i + UNION_BATCH] for i in range(0, len(parents), UNION_BATCH)]

        async def union(batch: list[P]) -> list[Document]:
            first, *others = batch
            stages = pipeline(first) + [
                {"$unionWith": {"coll": self.collection.name, "pipeline": pipeline(other)}}
                for other in others
            ]
            found: list[Document] = await self.collection.aggregate(stages).to_list(None)
            return found

        return [raw for found in await _bounded_gather(map(union, batches)) for raw in found]

    async def _wanted(self, parents: Sequence[P]) -> list[P]:
        """The parents, once each, that the caller may see the children of."""
        wanted = list(dict.fromkeys(parents))
        if self.visible is None:
            return wanted
        allowed = await self.visible(wanted)
        return [parent for parent in wanted if parent in allowed]

    async def pages(self, parents: Sequence[P], request: PageRequest) -> dict[P, Page[T]]:
        """Each parent's page; an empty one for a parent the caller may not see."""
        empty: Page[T] = Page(items=[], keys=[], has_more=False)
        return {parent: empty for parent in parents} | await self._pages(
            await self._wanted(parents), request
        )

    async def _pages(self, wanted: list[P], request: PageRequest) -> dict[P, Page[T]]:
        if not wanted:
            return {}
        if len(wanted) == 1 or not self.union:
            pages = await _bounded_gather(self.of(parent).page(request) for parent in wanted)
            return dict(zip(wanted, pages, strict=True))
        direction = DESCENDING if request.backward else ASCENDING
        raws = await self._union(
            wanted,
            lambda parent: [
                {"$match": self._of_one(parent, *between_cursors(self.fields, request))},
                {"$sort": {name: direction for name in self.fields}},
                {"$limit": request.limit + 1},
                *([{"$project": self.projection}] if self.projection else []),
            ],
        )
        by_parent: dict[P, list[Document]] = {parent: [] for parent in wanted}
        for raw in raws:
            by_parent[raw[self.parent_field]].append(raw)
        return {parent: self._page(found, request) for parent, found in by_parent.items()}

    def _page(self, raws: list[Document], request: PageRequest) -> Page[T]:
        # Sorted here rather than by the database: the same order (datetimes, ObjectIds and
        # ints compare alike in Python and BSON), without mongomock's sort, which compares
        # every pair through Python wrappers.
        keyed = sorted(
            ((self.order.key_of(raw), raw) for raw in raws),
            key=lambda pair: pair[0],
            reverse=request.backward,
        )
        has_more = len(keyed) > request.limit
        keyed = keyed[: request.limit]
        if request.backward:
            keyed.reverse()
        return Page(
            items=[self.decode(raw) for _, raw in keyed],
            keys=[key for key, _ in keyed],
            has_more=has_more,
        )

    async def offset_page(self, parent: P, offset: int, limit: int) -> list[T]:
        """One parent's children by offset (app.store.offset_pages); none for a parent the
        caller may not see."""
        if not await self._wanted([parent]):
            return []
        return await offset_page(self.of(parent), offset, limit)

    async def any_behind(self, parents: Sequence[P], request: PageRequest) -> set[P]:
        """The parents with children on the other side of the page's start cursor."""
        start = request.start
        if start is None:
            return set()
        wanted = await self._wanted(parents)
        if not wanted:
            return set()
        if len(wanted) == 1 or not self.union:
            behind = await _bounded_gather(self.of(parent).any_behind(request) for parent in wanted)
            return {parent for parent, found in zip(wanted, behind, strict=True) if found}
        raws = await self._union(
            wanted,
            lambda parent: [
                {
                    "$match": self._of_one(
                        parent, behind_cursor(self.fields, start, request.backward)
                    )
                },
                {"$limit": 1},
                {"$project": {self.parent_field: 1, "_id": 0}},
            ],
        )
        return {raw[self.parent_field] for raw in raws}

    async def counts(self, parents: Sequence[P]) -> dict[P, int]:
        """How many live children each parent has, in one query for many parents: on MongoDB a
        `$group` over the parents' ranges of their live entries in the (parent, deletedAt, …)
        index, so no deleted child is read (MongoDB may still fetch each live one to confirm
        `deletedAt: null`, which an index entry cannot tell from a missing field on every
        version); on the embedded store each parent's count, the size of its bucket in the
        (parent, deletedAt) index."""
        wanted = await self._wanted(parents)
        if not wanted:
            return dict.fromkeys(parents, 0)
        if len(wanted) == 1 or not self.union:
            counts = await _bounded_gather(self.of(parent).count() for parent in wanted)
            counted = Counter(dict(zip(wanted, counts, strict=True)))
        else:
            groups = await self.collection.aggregate(
                [
                    {"$match": self._of_all(wanted)},
                    {"$group": {"_id": f"${self.parent_field}", "count": {"$sum": 1}}},
                ]
            ).to_list(None)
            counted = Counter({group["_id"]: group["count"] for group in groups})
        return {parent: counted[parent] for parent in parents}
