"""What the client returns and takes: typed dataclasses for memql's users, sessions, memories
and pages, read from (and written as) the GraphQL JSON of the contract."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

T = TypeVar("T")
JsonObject = dict[str, Any]


class RoleType(str, enum.Enum):
    """Who spoke a memory, in the vocabulary of chat-completion APIs."""

    SYSTEM = "SYSTEM"
    ASSISTANT = "ASSISTANT"
    USER = "USER"
    FUNCTION = "FUNCTION"
    TOOL = "TOOL"
    NOROLE = "NOROLE"


def parse_datetime(value: str) -> datetime:
    """memql's DateTime (`2026-11-24T21:46:20.123Z`) as an aware UTC datetime."""
    # datetime.fromisoformat reads a trailing "Z" only from Python 3.11 on.
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(timezone.utc)


@dataclass(frozen=True)
class User:
    id: str
    user_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    metadata: JsonObject
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_graphql(cls, data: JsonObject) -> User:
        return cls(
            id=data["id"],
            user_id=data["userId"],
            email=data["email"],
            first_name=data["firstName"],
            last_name=data["lastName"],
            metadata=data["metadata"],
            created_at=parse_datetime(data["createdAt"]),
            updated_at=parse_datetime(data["updatedAt"]),
        )


@dataclass(frozen=True)
class Session:
    id: str
    session_id: str
    user_id: str | None
    metadata: JsonObject
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_graphql(cls, data: JsonObject) -> Session:
        return cls(
            id=data["id"],
            session_id=data["sessionId"],
            user_id=data["userId"],
            metadata=data["metadata"],
            created_at=parse_datetime(data["createdAt"]),
            updated_at=parse_datetime(data["updatedAt"]),
        )


@dataclass(frozen=True)
class Memory:
    id: str
    uuid: str
    session_id: str
    role: str
    role_type: RoleType | None
    content: str
    metadata: JsonObject
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_graphql(cls, data: JsonObject) -> Memory:
        role_type = data["roleType"]
        return cls(
            id=data["id"],
            uuid=data["uuid"],
            session_id=data["sessionId"],
            role=data["role"],
            role_type=RoleType(role_type) if role_type is not None else None,
            content=data["content"],
            metadata=data["metadata"],
            created_at=parse_datetime(data["createdAt"]),
            updated_at=parse_datetime(data["updatedAt"]),
        )


Node = User | Session | Memory

NODE_TYPES: dict[str, Callable[[JsonObject], Node]] = {
    "User": User.from_graphql,
    "Session": Session.from_graphql,
    "Memory": Memory.from_graphql,
}


@dataclass(frozen=True)
class MemoryInput:
    """One memory to add: `role` is a free-form speaker name such as "human" or "ai"."""

    role: str
    content: str
    role_type: RoleType | None = None
    metadata: JsonObject | None = None

    def to_graphql(self) -> JsonObject:
        return drop_none(
            role=self.role,
            content=self.content,
            roleType=RoleType(self.role_type).value if self.role_type is not None else None,
            metadata=self.metadata,
        )


def format_datetime(value: datetime) -> str:
    """A datetime as memql's DateTime; a naive one is taken to be UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SessionFilter:
    """Which sessions a list keeps (memql's `SessionFilter`); every condition given must hold.

    `metadata`: each key path equals the value given; a nested object names paths into nested
    metadata (`{"customer": {"tier": "gold"}}`), a scalar also matches a stored list holding
    it, a list matches an equal list, None matches a path with no value. The times are
    exclusive bounds, compared at millisecond precision.
    """

    metadata: JsonObject | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None

    def to_graphql(self) -> JsonObject:
        def at(value: datetime | None) -> str | None:
            return format_datetime(value) if value is not None else None

        return drop_none(
            metadata=self.metadata,
            createdAfter=at(self.created_after),
            createdBefore=at(self.created_before),
            updatedAfter=at(self.updated_after),
        )


@dataclass(frozen=True)
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def from_graphql(cls, data: JsonObject) -> PageInfo:
        return cls(
            has_next_page=data["hasNextPage"],
            has_previous_page=data["hasPreviousPage"],
            start_cursor=data["startCursor"],
            end_cursor=data["endCursor"],
        )


@dataclass(frozen=True)
class Edge(Generic[T]):
    cursor: str
    node: T


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a connection; iterating it gives its nodes in the list's order.

    `total_count` is the length of the whole list, only when it was asked for.
    """

    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int | None = None

    @classmethod
    def from_graphql(cls, data: JsonObject, node: Callable[[JsonObject], T]) -> Page[T]:
        return cls(
            edges=[Edge(edge["cursor"], node(edge["node"])) for edge in data["edges"]],
            page_info=PageInfo.from_graphql(data["pageInfo"]),
            total_count=data.get("totalCount"),
        )

    @property
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]

    def __iter__(self) -> Iterator[T]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.edges)


@dataclass(frozen=True)
class SearchResult:
    """A memory a search found, with its relevance: higher is better, always above 0."""

    memory: Memory
    score: float


@dataclass(frozen=True)
class PurgeCounts:
    """How many soft-deleted documents `purge_deleted` removed, per collection."""

    users: int
    sessions: int
    memories: int


def drop_none(**fields: Any) -> JsonObject:
    """The fields that were given: memql leaves a field out of an input unchanged."""
    return {name: value for name, value in fields.items() if value is not None}
