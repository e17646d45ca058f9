"""One update that sets fields and merges a metadata patch, retried when a concurrent update of
the same paths wins the race."""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument

from app.db import Collection, Document
from app.metadata import (
    JsonObject,
    MetadataUpdate,
    apply_patch,
    check_stored_size,
    merge_metadata_update,
)

MAX_ATTEMPTS = 50


class MergeConflict(RuntimeError):
    """A metadata merge kept losing races with concurrent updates of the same paths."""


async def update_merging_metadata(
    collection: Collection,
    match: Document,
    patch: JsonObject | None,
    *,
    set_fields: dict[str, Any],
    unset_fields: tuple[str, ...] = (),
    metadata_field: str = "metadata",
) -> Document | None:
    """Apply `set_fields`, `unset_fields` and the merged `patch` to the document `match` finds.

    Returns the updated document, or None when nothing matches. The patch must be validated.
    """
    unset = {name: "" for name in unset_fields}
    if not patch:
        update: Document = {"$set": set_fields}
        if unset:
            update["$unset"] = unset
        return await collection.find_one_and_update(
            match, update, return_document=ReturnDocument.AFTER
        )
    for _ in range(MAX_ATTEMPTS):
        current = await collection.find_one(match, {"metadata": 1})
        if current is None:
            return None
        stored: JsonObject = current.get("metadata") or {}
        check_stored_size(apply_patch(stored, patch), metadata_field)
        merge: MetadataUpdate = merge_metadata_update(stored, patch)
        update = merge.update_document(set_fields)
        if unset:
            update.setdefault("$unset", {}).update(unset)
        updated = await collection.find_one_and_update(
            {**match, "_id": current["_id"], **merge.guards},
            update,
            return_document=ReturnDocument.AFTER,
        )
        if updated is not None:
            return updated
    raise MergeConflict(f"metadata update lost {MAX_ATTEMPTS} races in a row")
