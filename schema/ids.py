"""Opaque, URL-safe codecs: Relay global IDs for nodes and cursors for connections."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId

from app.errors import BadUserInput
from app.store.keyset import SortKey


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(token: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def to_global_id(type_name: str, key: str) -> str:
    return _encode(f"{type_name}:{key}")


def from_global_id(global_id: str, field: str = "id") -> tuple[str, str]:
    """(type name, key) of a global ID; BadUserInput when it is not one of ours."""
    text = _decode(global_id) if global_id.isascii() else None
    type_name, _, key = (text or "").partition(":")
    if not type_name or not key:
        raise BadUserInput(f"{field} is not a valid global ID", field=field)
    return type_name, key


def parse_object_id(value: str) -> ObjectId | None:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


# Cursors: "<kind>:<key parts>" plus a short checksum, so a truncated or edited cursor is
# refused rather than silently seeking somewhere else. Kinds with timestamped keys encode
# (createdAt in ms, _id); memories encode their seq.
_TIMESTAMPED = frozenset({"user", "session"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def _checksum(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()[:10]


def encode_cursor(kind: str, key: SortKey) -> str:
    if kind in _TIMESTAMPED:
        created_at, object_id = key
        parts = [str((created_at - _EPOCH) // _MILLISECOND), str(object_id)]
    else:
        parts = [str(part) for part in key]
    payload = ":".join([kind, *parts])
    return _encode(f"{payload}:{_checksum(payload)}")


def decode_cursor(kind: str, cursor: str, field: str) -> SortKey:
    invalid = BadUserInput(f"{field} is not a valid cursor for this connection", field=field)
    text = _decode(cursor) if cursor.isascii() and len(cursor) <= 200 else None
    if text is None:
        raise invalid
    payload, _, checksum = text.rpartition(":")
    if checksum != _checksum(payload):
        raise invalid
    cursor_kind, *parts = payload.split(":")
    if cursor_kind != kind:
        raise invalid
    try:
        if kind in _TIMESTAMPED:
            millis, object_id = parts
            oid = parse_object_id(object_id)
            if oid is None:
                raise invalid
            return (_EPOCH + int(millis) * _MILLISECOND, oid)
        (seq,) = parts
        # A seq is a 64-bit integer in MongoDB: anything else cannot be a position in the list.
        if not 0 <= int(seq) < 2**63:
            raise invalid
        return (int(seq),)
    except (ValueError, OverflowError, OSError):
        raise invalid from None
