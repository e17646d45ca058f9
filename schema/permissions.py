"""Read checks for user tokens: an object is visible only when it belongs to the viewer."""

from __future__ import annotations

from typing import TypeVar

from app.auth import Viewer
from app.store.access import no_access

T = TypeVar("T")


def visible(
    viewer: Viewer, doc: T | None, owner: str | None, *, what: str, key: str, field: str
) -> T | None:
    """`doc` for an admin (None when missing); for a user, `doc` if `owner` is that user, else
    FORBIDDEN — also when it does not exist, so the answer tells nothing about others' data."""
    if viewer.admin:
        return doc
    if doc is None or owner != viewer.user_id:
        raise no_access(what, key, field)
    return doc
