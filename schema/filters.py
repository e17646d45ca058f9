"""The `filter` argument of session lists: the SessionFilter input, and the store's filter it
becomes (app.store.session_filter checks it)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry

from app.store.session_filter import EVERY_SESSION
from app.store.session_filter import SessionFilter as StoreSessionFilter
from schema.errors import input_field
from schema.scalars import JSON


@strawberry.input(
    description=(
        "Which sessions a list keeps; every condition given must hold. Times are exclusive "
        "bounds, compared at millisecond precision."
    )
)
class SessionFilter:
    metadata: JSON | None = strawberry.field(
        default=None,
        description=(
            'Each key path equals the value given: `{topic: "tea"}`; a nested object names '
            'paths into nested metadata (`{customer: {tier: "gold"}}` is `customer.tier == '
            '"gold"`). A string, number or boolean also matches a stored list holding it; a '
            "list matches an equal list (same items, same order); null matches a path with no "
            "value. At most 20 key paths."
        ),
    )
    created_after: datetime | None = strawberry.field(
        default=None, description="Sessions created after this time."
    )
    created_before: datetime | None = strawberry.field(
        default=None, description="Sessions created before this time."
    )
    updated_after: datetime | None = strawberry.field(
        default=None, description="Sessions updated (metadata, user, memories) after this time."
    )


def session_filter(given: SessionFilter | None) -> StoreSessionFilter:
    """The store's filter for the argument; BadUserInput naming `filter.…` when it is bad."""
    if given is None:
        return EVERY_SESSION
    with input_field("filter"):
        return StoreSessionFilter(
            metadata=given.metadata,
            created_after=given.created_after,
            created_before=given.created_before,
            updated_after=given.updated_after,
        )


def check_coerced_filter(coerced: Mapping[str, Any] | None) -> None:
    """`session_filter`'s check of the argument as graphql-core coerced it (keyed by the
    input's GraphQL names): what the node limit runs on a mutation's payload before the
    write (schema.pagination's SESSIONS declares it)."""
    if coerced is not None:
        session_filter(
            SessionFilter(
                metadata=coerced.get("metadata"),
                created_after=coerced.get("createdAfter"),
                created_before=coerced.get("createdBefore"),
                updated_after=coerced.get("updatedAfter"),
            )
        )
