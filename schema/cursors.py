"""Connection cursors: a node's sort key in its list, made opaque.

A cursor is `<kind>:<key parts>:<checksum>`, opaque: the kind names the connection it belongs
to, the parts are the key encoded by the types of its sort order (app.store.keyset.SortOrder: a
datetime as milliseconds since the epoch, an ObjectId as hex, an int, a float (a search score,
as Python writes it back exactly) or a string as itself), and the short
checksum makes a truncated or edited cursor fail rather than seek somewhere else.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from app.errors import BadUserInput
from app.store.keyset import SortKey, SortOrder
from app.validation import parse_object_id
from schema.opaque import from_opaque, to_opaque

MAX_CURSOR_LENGTH = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_INT64 = 2**63


def _checksum(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()[:10]


def _encode_part(value: Any) -> str:
    if isinstance(value, datetime):
        return str((value - _EPOCH) // _MILLISECOND)
    return str(value)


def _decode_datetime(text: str) -> datetime:
    return _EPOCH + int(text) * _MILLISECOND


def _decode_object_id(text: str) -> ObjectId:
    object_id = parse_object_id(text)
    if object_id is None:
        raise ValueError(text)
    return object_id


def _decode_int(text: str) -> int:
    # A seq is a 64-bit integer in MongoDB: anything else cannot be a position in the list.
    value = int(text)
    if not 0 <= value < _INT64:
        raise ValueError(text)
    return value


def _decode_float(text: str) -> float:
    # A search score: finite, as it was computed.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _decode_text(text: str) -> str:
    # A memory's uuid or a search's digest: never empty.
    if not text:
        raise ValueError(text)
    return text


_DECODERS: dict[type, Callable[[str], Any]] = {
    datetime: _decode_datetime,
    ObjectId: _decode_object_id,
    int: _decode_int,
    float: _decode_float,
    str: _decode_text,
}


def encode_cursor(kind: str, order: SortOrder, key: SortKey) -> str:
    payload = ":".join([kind, *(_encode_part(part) for part in key)])
    return to_opaque(f"{payload}:{_checksum(payload)}")


def decode_cursor(kind: str, order: SortOrder, cursor: str, field: str) -> SortKey:
    """The sort key a cursor of connection `kind` stands for; BadUserInput for anything else."""
    invalid = BadUserInput(f"{field} is not a valid cursor for this connection", field=field)
    text = from_opaque(cursor) if len(cursor) <= MAX_CURSOR_LENGTH else None
    if text is None:
        raise invalid
    payload, _, checksum = text.rpartition(":")
    if checksum != _checksum(payload):
        raise invalid
    cursor_kind, *parts = payload.split(":")
    if cursor_kind != kind or len(parts) != len(order.types):
        raise invalid
    try:
        key = tuple(_DECODERS[type_](part) for type_, part in zip(order.types, parts, strict=True))
    except (ValueError, OverflowError, OSError):
        raise invalid from None
    # Only the form encode_cursor writes: int() and ObjectId() also read " 7", Arabic-Indic
    # digits or 12 raw bytes, which would make one key answer to many cursors.
    if [_encode_part(part) for part in key] != parts:
        raise invalid
    return key
