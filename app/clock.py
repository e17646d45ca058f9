"""Time as memql stores it: UTC, at MongoDB's millisecond precision; and the clock a query reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


def utc_now() -> datetime:
    """Now, at the millisecond precision MongoDB stores, so cursors round-trip exactly."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class QueryClock(Protocol):
    """A clock read inside a query, as an aggregation expression: what a write lease is
    measured by, so that every memql process measures it alike."""

    def now(self) -> object: ...

    def after(self, delta: timedelta) -> object: ...


class DatabaseClock:
    """MongoDB's clock (`$$NOW`, the server's time when it runs the command): the one clock all
    memql processes share, whatever their hosts' clocks say."""

    def now(self) -> object:
        return "$$NOW"

    def after(self, delta: timedelta) -> object:
        return {"$add": ["$$NOW", int(delta / timedelta(milliseconds=1))]}


class ProcessClock:
    """This process's clock, written into the query as a date: the embedded store's clock,
    since the embedded store lives in this one process. (mongomock has no `$$NOW`, and its
    `$add` takes no date: measured with mongomock 4.3.)"""

    def now(self) -> object:
        return utc_now()

    def after(self, delta: timedelta) -> object:
        return utc_now() + delta
