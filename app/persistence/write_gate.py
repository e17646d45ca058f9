"""What tells the embedded store's snapshots when to run and keeps each one consistent: a gate
every write passes, counting the writes that changed something and holding new ones back while
a snapshot copies the data."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo.results import DeleteResult, UpdateResult

Collection = AsyncIOMotorCollection[dict[str, Any]]
T = TypeVar("T")

WRITE_METHODS = frozenset(
    {
        "insert_one",
        "insert_many",
        "update_one",
        "update_many",
        "replace_one",
        "delete_one",
        "delete_many",
        "find_one_and_update",
        "find_one_and_replace",
        "find_one_and_delete",
        "bulk_write",
        "create_index",
        "create_indexes",
        "drop_index",
        "drop_indexes",
        "drop",
    }
)


def changed_anything(result: object, *, upsert: bool) -> bool:
    """Whether a write's result says it changed the data; True where it cannot tell (a snapshot
    too many costs a write of the file, one too few loses data)."""
    if isinstance(result, UpdateResult):
        return result.modified_count > 0 or result.upserted_id is not None
    if isinstance(result, DeleteResult):
        return result.deleted_count > 0
    if result is None:
        # find_one_and_*: nothing matched, unless an upsert inserted (with the document as it
        # was before, an upsert also answers None).
        return upsert
    return True


class WriteGate:
    """Counts the writes that changed the data (`changes`), and lets `held()` stop new writes
    while those in progress finish, for as long as a snapshot copies the data. Reads are never
    held."""

    def __init__(self) -> None:
        self.changes = 0
        self._open = asyncio.Event()
        self._open.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._in_progress = 0

    async def write(self, call: Callable[[], Awaitable[T]], *, upsert: bool = False) -> T:
        while not self._open.is_set():
            await self._open.wait()
        self._in_progress += 1
        self._idle.clear()
        changed = True
        try:
            result = await call()
            changed = changed_anything(result, upsert=upsert)
            return result
        finally:
            if changed:
                self.changes += 1
            self._in_progress -= 1
            if not self._in_progress:
                self._idle.set()

    @asynccontextmanager
    async def held(self) -> AsyncIterator[int]:
        """Hold new writes back until the block ends, once the writes in progress are done;
        gives the count of changes the data then holds."""
        self._open.clear()
        try:
            await self._idle.wait()
            yield self.changes
        finally:
            self._open.set()


class GatedCollection:
    """A motor collection whose writes pass a `WriteGate`; every other attribute is the
    collection's own."""

    def __init__(self, collection: Collection, gate: WriteGate) -> None:
        self._collection = collection
        self._gate = gate

    def __bool__(self) -> bool:
        return bool(self._collection)  # refused, as the driver's collection refuses it

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._collection, name)
        if name not in WRITE_METHODS:
            return attribute
        gate = self._gate

        async def write(*args: Any, **kwargs: Any) -> Any:
            return await gate.write(
                lambda: attribute(*args, **kwargs), upsert=bool(kwargs.get("upsert"))
            )

        return write


def gated(collection: Collection, gate: WriteGate) -> Collection:
    # Typed as the collection it stands for: it answers every attribute the same way.
    return cast(Collection, GatedCollection(collection, gate))
