"""What a caller confined to one user (a user token) may touch; admins pass `owner=None`."""

from __future__ import annotations

from typing import Any

from app.errors import Forbidden, NotFound
from app.metadata import RESERVED_KEY, JsonObject


def forbid_other_user(owner: str | None, user_id: str | None, field: str) -> None:
    if owner is not None and user_id is not None and user_id != owner:
        raise Forbidden(f"this token may only act for userId {owner!r}", field=field)


def forbid_reserved_metadata(owner: str | None, metadata: JsonObject | None, field: str) -> None:
    """The top-level metadata key `system` is written only by admins (Zep reserved it)."""
    if owner is not None and isinstance(metadata, dict) and RESERVED_KEY in metadata:
        raise Forbidden(
            f"only admin tokens may write the metadata key {RESERVED_KEY!r}",
            field=f"{field}.{RESERVED_KEY}",
        )


def no_access(what: str, key: str, field: str) -> Forbidden:
    """The same answer whether or not the thing exists, so a user learns nothing of others'."""
    return Forbidden(f"this token may not access the {what} {key!r}", field=field)


def owned_session(session_id: str, owner: str | None) -> dict[str, Any]:
    """A filter for the session, narrowed to the owner's sessions for a user-confined caller."""
    if owner is None:
        return {"sessionId": session_id}
    return {"sessionId": session_id, "userId": owner}


def session_missing(session_id: str, owner: str | None) -> NotFound | Forbidden:
    if owner is not None:
        return no_access("session", session_id, "sessionId")
    return NotFound(f"no session with sessionId {session_id!r}", field="sessionId")
