"""How a stored user or session lives: created (or revived when soft-deleted), found while live,
and soft-deleted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bson import ObjectId
from pymongo import ReturnDocument

from app.clock import utc_now
from app.db import Collection, Document
from app.errors import MemqlError

LIVE: Document = {"deletedAt": None}
"""The filter of documents that are not soft-deleted (`deletedAt` absent)."""


def soft_delete(now: datetime) -> Document:
    return {"$set": {"deletedAt": now, "updatedAt": now}}


async def create_or_revive(
    collection: Collection,
    key: Document,
    fields: Document,
    *,
    on_insert: Document | None = None,
    taken: MemqlError,
    check_existing: Callable[[Document], None] | None = None,
) -> Document:
    """Create the document `key` identifies with `fields`, or bring a soft-deleted one back with
    them (keeping `on_insert`'s fields as they were). `taken` is raised when a live one exists;
    `check_existing` may refuse to touch an existing one at all.

    The create is one upsert keyed on `key`, atomic on both stores, so two racing creates make
    one document; a revival is guarded by the `deletedAt` it read, so only one of two racing
    revivals wins and the other is told the document is `taken`.
    """
    now = utc_now()
    new_id = ObjectId()
    raw = await collection.find_one_and_update(
        key,
        {
            "$setOnInsert": {
                "_id": new_id,
                **key,
                **fields,
                **(on_insert or {}),
                "createdAt": now,
                "updatedAt": now,
            }
        },
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    if raw is None:  # pragma: no cover - an upsert always returns a document
        raise RuntimeError("upsert returned nothing")
    if raw["_id"] == new_id:
        return raw
    if check_existing is not None:
        check_existing(raw)
    if raw.get("deletedAt") is None:
        raise taken
    revived: Document | None = await collection.find_one_and_update(
        {"_id": raw["_id"], "deletedAt": raw["deletedAt"]},
        {"$set": {**fields, "createdAt": now, "updatedAt": now}, "$unset": {"deletedAt": ""}},
        return_document=ReturnDocument.AFTER,
    )
    if revived is None:
        raise taken
    return revived
