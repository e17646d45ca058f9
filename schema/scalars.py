"""The contract's scalars: DateTime as UTC ISO-8601 with milliseconds, and JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast, overload

import strawberry
from strawberry.scalars import JSON
from strawberry.types.scalar import ScalarDefinition

from app.metadata import JsonObject

__all__ = ["JSON", "SCALAR_MAP", "json_argument"]


@overload
def json_argument(value: JSON) -> JsonObject: ...
@overload
def json_argument(value: JSON | None) -> JsonObject | None: ...
def json_argument(value: JSON | None) -> JsonObject | None:
    """A JSON argument as the store takes it; the store checks that it really is an object."""
    return cast(JsonObject | None, value)


def serialize_datetime(value: datetime) -> str:
    # Every timestamp of every listed node passes here; isoformat is twice as fast as strftime.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO-8601 string")
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


SCALAR_MAP: dict[object, ScalarDefinition] = {
    datetime: strawberry.scalar(
        name="DateTime",
        description=(
            "An ISO-8601 date-time in UTC with millisecond precision, "
            "e.g. 2026-11-24T21:46:20.123Z."
        ),
        serialize=serialize_datetime,
        parse_value=parse_datetime,
    ),
    JSON: strawberry.scalar(
        name="JSON",
        description="An arbitrary JSON object (metadata).",
        specified_by_url="https://www.rfc-editor.org/rfc/rfc8259",
        serialize=lambda value: value,
        parse_value=lambda value: value,
    ),
}
