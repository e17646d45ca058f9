"""Counting database calls, for the benchmark and tests: a collection wrapper that notes each
call in the current `counting_calls()` context, installed only when a `Database` is asked to
(`count_calls=True`), never in the server memql runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, cast

from motor.motor_asyncio import AsyncIOMotorCollection

Collection = AsyncIOMotorCollection[dict[str, Any]]


@dataclass
class DatabaseCalls:
    """The database calls made while counting, e.g. `memories.find`, in the order made."""

    calls: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.calls)

    def of(self, collection: str) -> list[str]:
        return [call for call in self.calls if call.startswith(f"{collection}.")]


# A context variable, so that concurrent requests (each in its own task, and the tasks that
# DataLoaders start inherit it) keep separate counts.
_counting: ContextVar[DatabaseCalls | None] = ContextVar("memql_database_calls", default=None)


@contextmanager
def counting_calls() -> Iterator[DatabaseCalls]:
    """Count every collection call made in this context (and tasks started from it)."""
    calls = DatabaseCalls()
    token = _counting.set(calls)
    try:
        yield calls
    finally:
        _counting.reset(token)


class CountingCollection:
    """A motor collection that notes each call in the current `counting_calls()` context.

    pymongo's command monitoring never fires on the embedded store, so calls are counted here,
    at the one place every query of both stores passes through.
    """

    def __init__(self, collection: Collection) -> None:
        self._collection = collection
        self._name = collection.name

    def __bool__(self) -> bool:
        return bool(self._collection)  # refused, as the driver's collection refuses it

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._collection, name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        label = f"{self._name}.{name}"

        def call(*args: Any, **kwargs: Any) -> Any:
            calls = _counting.get()
            if calls is not None:
                calls.calls.append(label)
            return attribute(*args, **kwargs)

        return call


def counted(collection: Collection) -> Collection:
    # Typed as the collection it stands for: it answers every attribute the same way.
    return cast(Collection, CountingCollection(collection))
