"""What Zep's routes read: JSON bodies in Zep v0.27's request shapes (an unknown field or a
value of the wrong type is refused before anything is written), integer query parameters read as
Go's `strconv` reads them, and a message's UUID in the path."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails
from starlette.requests import Request

from app.errors import BadUserInput
from app.validation import parse_uuid

B = TypeVar("B", bound="ZepBody")

_INTEGER = re.compile(r"[+-]?[0-9]+")
_INT64 = 2**63
_UUID_LENGTHS = (32, 36, 38, 41)
"""The lengths of the forms Go's `uuid.Parse` reads: any other is `invalid UUID length`."""


class ZepBody(BaseModel):
    """A request body: JSON types exactly (no coercion), no field beyond those declared."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Assigned(ZepBody):
    """Fields the server assigns, in every object the SDK may send back as it read it: accepted
    and ignored."""

    uuid: UUID | None = None
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None


class SessionBody(Assigned):
    """PATCH /sessions/{id}: the path names the session, whatever `session_id` says."""

    session_id: str | None = None
    user_id: str | None = None
    metadata: dict[str, Any] | None = None


class NewSessionBody(SessionBody):
    session_id: str


class UserBody(Assigned):
    """PATCH /user/{id}: the path names the user, whatever `user_id` says."""

    user_id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    metadata: dict[str, Any] | None = None


class NewUserBody(UserBody):
    user_id: str


class MessageBody(ZepBody):
    """PATCH /sessions/{id}/messages/{uuid}: only the metadata changes (merged)."""

    metadata: dict[str, Any]
    uuid: UUID | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    token_count: int | None = None


class NewMessageBody(ZepBody):
    role: str
    content: str
    metadata: dict[str, Any] | None = None
    uuid: UUID | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    token_count: int | None = None


class MemoryBody(ZepBody):
    """POST /sessions/{id}/memory. Zep ignored a memory's own metadata, and so does memql; a
    summary it cannot store."""

    messages: list[NewMessageBody] = []
    metadata: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    uuid: UUID | None = None
    created_at: datetime | None = None
    token_count: int | None = None


class SearchBody(ZepBody):
    """POST /sessions/{id}/search: Zep's MemorySearchPayload."""

    text: str | None = None
    metadata: dict[str, Any] | None = None
    search_scope: str | None = None
    search_type: str | None = None
    mmr_lambda: float | None = None


def _describe(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"json: unknown field {json.dumps(error['loc'][-1])}"
    return f"{where}: {error['msg']}" if where else error["msg"]


async def read_body(request: Request, shape: type[B]) -> B:
    try:
        return shape.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # An unknown field first: a body of the wrong shape names the field it should not have.
        unknown = [error for error in errors if error["type"] == "extra_forbidden"]
        raise BadUserInput(_describe((unknown or errors)[0])) from None


def query_int(request: Request, name: str) -> int | None:
    """An integer query parameter as Zep reads one (`strconv.ParseInt`, base 10, 64 bits): None
    when absent or empty, as the SDK sends a parameter it has no value for."""
    value = request.query_params.get(name, "")
    if value == "":
        return None
    quoted = json.dumps(value, ensure_ascii=False)
    if not _INTEGER.fullmatch(value):
        raise BadUserInput(f"strconv.ParseInt: parsing {quoted}: invalid syntax", field=name)
    number = int(value)
    if not -_INT64 <= number < _INT64:
        raise BadUserInput(f"strconv.ParseInt: parsing {quoted}: value out of range", field=name)
    return number


def message_uuid(value: str) -> str:
    """The memory uuid a message's path names, in memql's form (lower case, hyphenated)."""
    parsed = parse_uuid(value) if len(value) in _UUID_LENGTHS else None
    if parsed is None:
        reason = (
            "invalid UUID format"
            if len(value) in _UUID_LENGTHS
            else f"invalid UUID length: {len(value)}"
        )
        # Zep's text, "document" and all: its message routes share the documents' parser.
        raise BadUserInput(f"unable to parse document UUID: {reason}", field="uuid")
    return parsed
