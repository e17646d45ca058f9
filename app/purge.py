"""Hard deletion of soft-deleted documents (Zep's purge)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.db import MEMORIES, SESSIONS, USERS, Database, Document


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    users: int
    sessions: int
    memories: int


async def purge_deleted(db: Database, *, deleted_before: datetime | None = None) -> PurgeCounts:
    """Delete every soft-deleted document (or only those deleted before `deleted_before`)."""
    condition: Document = {"$ne": None} if deleted_before is None else {"$lt": deleted_before}
    counts = {}
    # Memories first: a session is never gone while memories that point to it remain.
    for name in (MEMORIES, SESSIONS, USERS):
        result = await db.collection(name).delete_many({"deletedAt": condition})
        counts[name] = result.deleted_count
    return PurgeCounts(users=counts[USERS], sessions=counts[SESSIONS], memories=counts[MEMORIES])
