"""Checks on client-supplied values, raising BadUserInput that names the field at fault."""

from __future__ import annotations

import unicodedata
import uuid

from bson import ObjectId
from bson.errors import InvalidId

from app.errors import BadUserInput

MAX_IDENTIFIER_LENGTH = 256
MAX_NAME_LENGTH = 320
MAX_ROLE_LENGTH = 256
MAX_CONTENT_BYTES = 1024 * 1024
MAX_MEMORIES_PER_CALL = 1000


def has_control_characters(value: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in value)


def check_encodable(value: str, field: str) -> None:
    """Lone surrogates (legal in JSON escapes) cannot be stored as UTF-8 in BSON."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadUserInput(f"{field} is not valid Unicode text", field=field) from None


def check_identifier(value: str, field: str) -> str:
    if not value:
        raise BadUserInput(f"{field} must not be empty", field=field)
    if len(value) > MAX_IDENTIFIER_LENGTH:
        raise BadUserInput(
            f"{field} must be at most {MAX_IDENTIFIER_LENGTH} characters", field=field
        )
    if has_control_characters(value):
        raise BadUserInput(f"{field} must not contain control characters", field=field)
    check_encodable(value, field)
    return value


def check_optional_text(value: str | None, field: str, max_length: int = MAX_NAME_LENGTH) -> None:
    if value is None:
        return
    if len(value) > max_length:
        raise BadUserInput(f"{field} must be at most {max_length} characters", field=field)
    if has_control_characters(value):
        raise BadUserInput(f"{field} must not contain control characters", field=field)
    check_encodable(value, field)


def check_role(value: str, field: str) -> None:
    if not value.strip():
        raise BadUserInput(f"{field} must not be empty", field=field)
    check_optional_text(value, field, MAX_ROLE_LENGTH)


def check_content(value: str, field: str) -> None:
    check_encodable(value, field)
    size = len(value.encode("utf-8"))
    if size > MAX_CONTENT_BYTES:
        raise BadUserInput(
            f"{field} is {size} bytes; the limit is {MAX_CONTENT_BYTES} bytes (1 MiB)",
            field=field,
        )


def check_memory_count(count: int, field: str) -> None:
    if count == 0:
        raise BadUserInput(f"{field} must hold at least one memory", field=field)
    if count > MAX_MEMORIES_PER_CALL:
        raise BadUserInput(
            f"{field} holds {count} memories; the limit is {MAX_MEMORIES_PER_CALL} per call",
            field=field,
        )


def check_page_size(value: int, field: str, maximum: int) -> None:
    """A page size a client asks for (`first`, `last`, Zep's `limit`) within the maximum."""
    if value < 0:
        raise BadUserInput(f"{field} must not be negative", field=field)
    if value > maximum:
        raise BadUserInput(
            f"{field} must be at most {maximum} (the maximum page size)", field=field
        )


def parse_uuid(value: str) -> str | None:
    """The canonical form of a UUID string, or None when it is not one."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


def parse_object_id(value: str) -> ObjectId | None:
    """The ObjectId a client-given string stands for, or None when it is not one."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None
