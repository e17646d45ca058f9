"""Which sessions a list keeps: metadata paths equal to values, and creation and update times.

A filter is checked once, when it is made, and turned into the conditions it adds to a list's
query; lists, counts and nested pages take those conditions beside their own, so keyset paging
and `totalCount` stay exact under it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from app.clock import as_utc
from app.db import Document
from app.errors import BadUserInput
from app.metadata import JsonObject, validate_patch

MAX_FILTER_PATHS = 20
"""Metadata key paths one filter may test: each is a condition every session read is tested
against (the metadata's own nesting limit, 16 levels, applies to the filter object too)."""


def _to_millisecond(value: datetime) -> datetime:
    """In UTC, cut to the millisecond: what MongoDB stores and compares (a finer part would
    be dropped by the driver on MongoDB and compared by mongomock, which would then differ)."""
    value = as_utc(value)
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def _leaf_condition(value: Any) -> Any:
    """The condition on one metadata path. MongoDB's equality, with true and false kept apart
    from 1 and 0 (mongomock compares them as Python does, where `True == 1`)."""
    if isinstance(value, bool):
        return {"$eq": value, "$type": "bool"}
    if isinstance(value, int | float):
        return {"$eq": value, "$not": {"$type": "bool"}}
    return value


def _paths(value: JsonObject, path: str, field: str) -> Iterator[tuple[str, Any]]:
    """The (dotted path, leaf value) pairs of a metadata filter: nested objects are paths."""
    for key, item in value.items():
        if isinstance(item, dict):
            if not item:
                raise BadUserInput(
                    f"{field}.{key} is an empty object: give the keys to match inside it, or "
                    "leave it out",
                    field=f"{field}.{key}",
                )
            yield from _paths(item, f"{path}.{key}", f"{field}.{key}")
        else:
            yield f"{path}.{key}", item


class SessionFilter:
    """Sessions whose metadata has each given path equal to its value, created after and
    before the given times, updated after the given time (each bound exclusive).

    Equal filters are those of equal `key`, which tells 1 from true and from 1.0: a nested
    connection's pages are batched per filter, and two filters equal in Python (`{a: 1}` and
    `{a: true}`) must not share an answer.
    """

    def __init__(
        self,
        *,
        metadata: object | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        updated_after: datetime | None = None,
    ) -> None:
        match: Document = {}
        paths: list[tuple[str, Any]] = []
        if metadata is not None:
            validate_patch(metadata, "metadata")
            assert isinstance(metadata, dict)
            paths = sorted(_paths(metadata, "metadata", "metadata"))
            if len(paths) > MAX_FILTER_PATHS:
                raise BadUserInput(
                    f"metadata names {len(paths)} key paths; a filter may test at most "
                    f"{MAX_FILTER_PATHS}",
                    field="metadata",
                )
            match.update((path, _leaf_condition(value)) for path, value in paths)
        after = _to_millisecond(created_after) if created_after is not None else None
        before = _to_millisecond(created_before) if created_before is not None else None
        if after is not None and before is not None and after >= before:
            raise BadUserInput(
                "createdAfter must be earlier than createdBefore: no session is created after "
                "the one time and before the other",
                field="createdBefore",
            )
        created: Document = {}
        if after is not None:
            created["$gt"] = after
        if before is not None:
            created["$lt"] = before
        if created:
            match["createdAt"] = created
        updated = _to_millisecond(updated_after) if updated_after is not None else None
        if updated is not None:
            match["updatedAt"] = {"$gt": updated}
        self.match = match
        """The conditions the filter adds to a query of sessions."""
        self.key = json.dumps(
            [paths, *(None if at is None else at.isoformat() for at in (after, before, updated))]
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SessionFilter) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"SessionFilter({self.key})"


EVERY_SESSION = SessionFilter()
"""The filter that keeps every session."""
