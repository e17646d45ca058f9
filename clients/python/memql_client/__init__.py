"""memql_client: Python clients (async and sync) for memql's GraphQL memory store."""

from __future__ import annotations

from memql_client.client import DEFAULT_URL, AsyncMemqlClient, MemqlClient
from memql_client.errors import (
    AlreadyExistsError,
    BadUserInputError,
    ForbiddenError,
    InternalServerError,
    MemqlError,
    NotFoundError,
    QueryTooComplexError,
    UnauthenticatedError,
    UnexpectedResponseError,
)
from memql_client.models import (
    Edge,
    Memory,
    MemoryInput,
    Node,
    Page,
    PageInfo,
    PurgeCounts,
    RoleType,
    SearchResult,
    Session,
    SessionFilter,
    User,
)

__all__ = [
    "DEFAULT_URL",
    "AlreadyExistsError",
    "AsyncMemqlClient",
    "BadUserInputError",
    "Edge",
    "ForbiddenError",
    "InternalServerError",
    "Memory",
    "MemoryInput",
    "MemqlClient",
    "MemqlError",
    "Node",
    "NotFoundError",
    "Page",
    "PageInfo",
    "PurgeCounts",
    "QueryTooComplexError",
    "RoleType",
    "SearchResult",
    "Session",
    "SessionFilter",
    "UnauthenticatedError",
    "UnexpectedResponseError",
    "User",
]
