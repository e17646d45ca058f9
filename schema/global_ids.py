"""Relay global IDs: `<type name>:<key>` made opaque, for every node."""

from __future__ import annotations

from app.errors import BadUserInput
from schema.opaque import from_opaque, to_opaque


def to_global_id(type_name: str, key: str) -> str:
    return to_opaque(f"{type_name}:{key}")


def from_global_id(global_id: str, field: str = "id") -> tuple[str, str]:
    """(type name, key) of a global ID; BadUserInput when it is not one of ours."""
    type_name, _, key = (from_opaque(global_id) or "").partition(":")
    if not type_name or not key:
        raise BadUserInput(f"{field} is not a valid global ID", field=field)
    return type_name, key
