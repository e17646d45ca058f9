"""Metadata patches: validation, the reference merge, and the atomic MongoDB update they become.

A patch merges into stored metadata as Zep did (nested objects key by key, anything else
replaces) and, beyond Zep, a null removes its key (RFC 7396 JSON Merge Patch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import bson

from app.errors import BadUserInput, Forbidden
from app.validation import check_encodable

MAX_DEPTH = 16
MAX_BYTES = 64 * 1024
RESERVED_KEY = "system"
_INT64 = 2**63

JsonObject = dict[str, Any]


def validate_patch(patch: object, field: str = "metadata") -> None:
    """Raise BadUserInput unless `patch` is a JSON object memql can store."""
    if not isinstance(patch, dict):
        raise BadUserInput(f"{field} must be a JSON object", field=field)
    _check_value(patch, field, 1)


def _check_value(value: object, path: str, depth: int) -> None:
    if isinstance(value, dict | list) and depth > MAX_DEPTH:
        raise BadUserInput(f"{path} nests deeper than {MAX_DEPTH} levels", field=path)
    if isinstance(value, dict):
        for key, item in value.items():
            _check_key(key, path)
            _check_value(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise BadUserInput(f"{path} is outside the 64-bit integer range", field=path)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise BadUserInput(f"{path} must be a finite number", field=path)
    elif isinstance(value, str):
        check_encodable(value, path)
    else:
        raise BadUserInput(f"{path} is not a JSON value", field=path)


def _check_key(key: object, parent: str) -> None:
    if not isinstance(key, str) or key == "":
        raise BadUserInput(f"{parent} has an empty key", field=parent)
    if key.startswith("$") or "." in key or "\x00" in key:
        raise BadUserInput(
            f"{parent} key {key!r} must not start with '$' or contain '.' or NUL",
            field=f"{parent}.{key}",
        )
    check_encodable(key, parent)


def checked_patch(patch: object, field: str, *, may_write_reserved: bool) -> JsonObject:
    """`patch` once it is known to be a metadata object this caller may merge."""
    validate_patch(patch, field)
    assert isinstance(patch, dict)
    if RESERVED_KEY in patch and not may_write_reserved:
        raise Forbidden(
            f"only admin tokens may write the metadata key {RESERVED_KEY!r}",
            field=f"{field}.{RESERVED_KEY}",
        )
    return patch


def new_metadata(patch: object | None, field: str, *, may_write_reserved: bool) -> JsonObject:
    """The metadata a new document stores for `patch`: checked, nulls dropped, within size."""
    if patch is None:
        return {}
    stored: JsonObject = strip_nulls(
        checked_patch(patch, field, may_write_reserved=may_write_reserved)
    )
    check_stored_size(stored, field)
    return stored


def strip_nulls(value: Any) -> Any:
    """A patch applied to nothing: nulls inside objects vanish (arrays are kept as they are)."""
    if isinstance(value, dict):
        return {key: strip_nulls(item) for key, item in value.items() if item is not None}
    return value


def apply_patch(stored: JsonObject, patch: JsonObject) -> JsonObject:
    """The merged metadata, computed in Python (used for the size check before writing)."""
    merged = dict(stored)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            current = merged.get(key)
            merged[key] = apply_patch(current if isinstance(current, dict) else {}, value)
        else:
            merged[key] = value
    return merged


def check_stored_size(metadata: JsonObject, field: str = "metadata") -> None:
    size = len(bson.encode(metadata))
    if size > MAX_BYTES:
        raise BadUserInput(
            f"{field} would be {size} bytes as stored; the limit is {MAX_BYTES} bytes (64 KiB)",
            field=field,
        )


# Type guards. `$type: "object"` also matches an array holding an object, hence the `$not`.
IS_OBJECT = {"$type": "object", "$not": {"$type": "array"}}
IS_ARRAY = {"$type": "array"}
IS_SCALAR = {"$not": {"$type": "object"}}


@dataclass
class MetadataUpdate:
    """Dotted `$set`/`$unset` paths plus the filter guards the paths were computed under."""

    set: dict[str, Any] = field(default_factory=dict)
    unset: dict[str, str] = field(default_factory=dict)
    guards: dict[str, Any] = field(default_factory=dict)

    def update_document(self, extra_set: dict[str, Any] | None = None) -> dict[str, Any]:
        update: dict[str, Any] = {"$set": {**self.set, **(extra_set or {})}}
        if self.unset:
            update["$unset"] = self.unset
        return update


def merge_metadata_update(
    stored: JsonObject, patch: JsonObject, prefix: str = "metadata"
) -> MetadataUpdate:
    """Turn `patch` into one update that merges it into `stored` (as read) at `prefix`.

    A dotted `$set` below a scalar fails on MongoDB (code 28) and is silently ignored by
    mongomock, so where the stored value is not an object the whole value is set at its path.
    Each such decision adds a guard on the type it was based on: if a concurrent update changed
    that type, the guarded update matches nothing and the caller re-reads and retries. Guards are
    on types, not values, so concurrent updates of different keys never conflict.
    """
    update = MetadataUpdate()
    _merge_into(update, stored, patch, prefix)
    return update


def _merge_into(update: MetadataUpdate, stored: JsonObject, patch: JsonObject, path: str) -> None:
    for key, value in patch.items():
        child = f"{path}.{key}"
        if value is None:
            if key in stored:
                update.unset[child] = ""
        elif isinstance(value, dict):
            current = stored.get(key)
            if isinstance(current, dict):
                update.guards[child] = IS_OBJECT
                _merge_into(update, current, value, child)
            else:
                update.guards[child] = IS_ARRAY if isinstance(current, list) else IS_SCALAR
                update.set[child] = strip_nulls(value)
        else:
            update.set[child] = value
