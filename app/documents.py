"""Stored documents as plain dataclasses: what the store returns and the schema reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from app.clock import as_utc
from app.roles import RoleType


@dataclass(frozen=True, slots=True)
class UserDoc:
    id: ObjectId
    user_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_mongo(cls, raw: dict[str, Any]) -> UserDoc:
        return cls(
            id=raw["_id"],
            user_id=raw["userId"],
            email=raw.get("email"),
            first_name=raw.get("firstName"),
            last_name=raw.get("lastName"),
            metadata=raw.get("metadata") or {},
            created_at=as_utc(raw["createdAt"]),
            updated_at=as_utc(raw["updatedAt"]),
        )


@dataclass(frozen=True, slots=True)
class SessionDoc:
    id: ObjectId
    session_id: str
    user_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_mongo(cls, raw: dict[str, Any]) -> SessionDoc:
        return cls(
            id=raw["_id"],
            session_id=raw["sessionId"],
            user_id=raw.get("userId"),
            metadata=raw.get("metadata") or {},
            created_at=as_utc(raw["createdAt"]),
            updated_at=as_utc(raw["updatedAt"]),
        )


@dataclass(frozen=True, slots=True)
class MemoryDoc:
    uuid: str
    session_id: str
    seq: int
    role: str
    role_type: RoleType | None
    content: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_mongo(cls, raw: dict[str, Any]) -> MemoryDoc:
        role_type = raw.get("roleType")
        return cls(
            uuid=raw["_id"],
            session_id=raw["sessionId"],
            seq=raw["seq"],
            role=raw["role"],
            role_type=RoleType(role_type) if role_type else None,
            content=raw["content"],
            metadata=raw.get("metadata") or {},
            created_at=as_utc(raw["createdAt"]),
            updated_at=as_utc(raw["updatedAt"]),
        )
