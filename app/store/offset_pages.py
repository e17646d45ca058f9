"""The offset pages Zep's REST API asks for: its `cursor` counts items, it names none."""

from __future__ import annotations

from typing import TypeVar

from pymongo import ASCENDING

from app.store.keyset import KeysetQuery

T = TypeVar("T")


async def offset_page(query: KeysetQuery[T], offset: int, limit: int) -> list[T]:
    """`limit` items of `query` after skipping the first `offset`, in order. An offset counts
    the items live when it is read, so a deletion before it shifts the next page (an item is
    skipped); keyset pages are immune to that."""
    cursor = (
        query.collection.find(query.base)
        .sort([(name, ASCENDING) for name in query.fields])
        .skip(offset)
        .limit(limit)
    )
    raws = await cursor.to_list(None)
    return [query.decode(raw) for raw in raws]
