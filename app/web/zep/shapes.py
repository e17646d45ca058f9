"""memql's documents in Zep v0.27's JSON shapes: integer `id`s null, `uuid`s derived from memql's
ids, times as Go writes them, `token_count` 0; and the role type a Zep role stands for."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from app.documents import MemoryDoc, SessionDoc, UserDoc
from app.roles import RoleType

ZepJson = dict[str, Any]

_VERSION_AND_VARIANT = bytes([0x80, 0x00, 0x80, 0x00])


def zep_uuid(object_id: ObjectId) -> str:
    """A user's or session's UUID: the 12 bytes of its ObjectId around 4 fixed ones (RFC 9562's
    version 8 with its variant), so `aaaaaaaa-aaaa-8000-8000-bbbbbbbbbbbb` is the ObjectId
    `aaaaaaaaaaaabbbbbbbbbbbb`. A memory's uuid is a UUID already."""
    raw = object_id.binary
    return str(uuid.UUID(bytes=raw[:6] + _VERSION_AND_VARIANT + raw[6:]))


def zep_time(value: datetime) -> str:
    """UTC in Go's RFC 3339 (`time.RFC3339Nano`): trailing zeros of the fraction dropped."""
    value = value.astimezone(UTC)
    fraction = f"{value.microsecond:06d}".rstrip("0")
    return value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def _record(doc: UserDoc | SessionDoc) -> ZepJson:
    """The fields Zep's users and sessions share: a live one was never deleted."""
    return {
        "uuid": zep_uuid(doc.id),
        "id": None,
        "created_at": zep_time(doc.created_at),
        "updated_at": zep_time(doc.updated_at),
        "deleted_at": None,
    }


def user_json(doc: UserDoc) -> ZepJson:
    return {
        **_record(doc),
        "user_id": doc.user_id,
        "email": doc.email,
        "first_name": doc.first_name,
        "last_name": doc.last_name,
        "metadata": doc.metadata,
    }


def session_json(doc: SessionDoc) -> ZepJson:
    return {
        **_record(doc),
        "session_id": doc.session_id,
        "user_id": doc.user_id,
        "metadata": doc.metadata,
    }


def message_json(doc: MemoryDoc) -> ZepJson:
    return {
        "uuid": doc.uuid,
        "created_at": zep_time(doc.created_at),
        "updated_at": zep_time(doc.updated_at),
        "role": doc.role,
        "content": doc.content,
        "metadata": doc.metadata,
        "token_count": 0,
    }


def search_result_json(doc: MemoryDoc, dist: float) -> ZepJson:
    """Zep's MemorySearchResult of a message: `dist` its relevance in 0..1, higher better."""
    return {"message": message_json(doc), "metadata": doc.metadata, "summary": None, "dist": dist}


ROLE_TYPES = {
    "human": RoleType.USER,
    "user": RoleType.USER,
    "ai": RoleType.ASSISTANT,
    "assistant": RoleType.ASSISTANT,
    "system": RoleType.SYSTEM,
    "tool": RoleType.TOOL,
    "function": RoleType.FUNCTION,
}
"""Zep's roles (LangChain's message types, and OpenAI's) by the role type each stands for;
any other role is a name, of no known type."""


def role_type_of(role: str) -> RoleType | None:
    return ROLE_TYPES.get(role)
