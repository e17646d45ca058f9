"""The one MongoDB client of a process, its collections, and the indexes they need."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo import ASCENDING, IndexModel

from app.settings import Settings

logger = logging.getLogger("memql.db")

Document = dict[str, Any]
Collection = AsyncIOMotorCollection[Document]

USERS = "users"
SESSIONS = "sessions"
MEMORIES = "memories"


@dataclass(frozen=True)
class IndexSpec:
    collection: str
    keys: tuple[tuple[str, int], ...]
    name: str
    unique: bool = False

    def model(self) -> IndexModel:
        return IndexModel(list(self.keys), name=self.name, unique=self.unique)


def index_specs(*, embedded: bool) -> list[IndexSpec]:
    """The indexes of SPEC §4 for MongoDB; for the embedded store only those it needs.

    mongomock scans a whole collection for every query whatever its indexes, and a unique index
    makes every insert scan it too (SPEC §12). The embedded store's writes are single atomic
    calls, so uniqueness holds there without the indexes (every create is an upsert keyed on
    the identifier) and it gets none of them. A memory's uuid is its `_id`, unique on both.
    """
    if embedded:
        return []
    return [
        IndexSpec(USERS, (("userId", ASCENDING),), "userId_unique", unique=True),
        IndexSpec(USERS, (("createdAt", ASCENDING), ("_id", ASCENDING)), "createdAt_id"),
        IndexSpec(SESSIONS, (("sessionId", ASCENDING),), "sessionId_unique", unique=True),
        IndexSpec(SESSIONS, (("createdAt", ASCENDING), ("_id", ASCENDING)), "createdAt_id"),
        IndexSpec(
            SESSIONS,
            (("userId", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)),
            "userId_createdAt_id",
        ),
        IndexSpec(MEMORIES, (("sessionId", ASCENDING), ("seq", ASCENDING)), "sessionId_seq"),
    ]


class Database:
    """Holds the motor client (or mongomock-motor's, for the embedded store) and collections."""

    def __init__(self, client: AsyncIOMotorClient[Document], name: str, *, embedded: bool) -> None:
        self.client = client
        self.embedded = embedded
        self.db: AsyncIOMotorDatabase[Document] = client[name]
        self.users: Collection = self.db[USERS]
        self.sessions: Collection = self.db[SESSIONS]
        self.memories: Collection = self.db[MEMORIES]

    @classmethod
    def connect(cls, settings: Settings) -> Database:
        if settings.mongodb_url is None:
            from mongomock_motor import AsyncMongoMockClient

            logger.warning(
                "MEMQL_MONGODB_URL is not set: using the embedded in-memory store; "
                "data is not persisted and is lost when the process exits"
            )
            client: AsyncIOMotorClient[Document] = AsyncMongoMockClient(tz_aware=True)
            return cls(client, settings.database, embedded=True)
        client = AsyncIOMotorClient(
            settings.mongodb_url,
            tz_aware=True,
            appname="memql",
            serverSelectionTimeoutMS=settings.mongodb_timeout_ms,
        )
        return cls(client, settings.database, embedded=False)

    def collection(self, name: str) -> Collection:
        return self.db[name]

    async def ensure_indexes(self) -> None:
        """Create the indexes; creating an existing identical index is a no-op in MongoDB."""
        by_collection: dict[str, list[IndexModel]] = {}
        for spec in index_specs(embedded=self.embedded):
            by_collection.setdefault(spec.collection, []).append(spec.model())
        for name, models in by_collection.items():
            await self.collection(name).create_indexes(models)
        if by_collection:
            logger.info("indexes ensured on %s", ", ".join(sorted(by_collection)))

    async def ping(self) -> bool:
        try:
            await self.client.admin.command("ping")
        except Exception:
            logger.warning("database ping failed", exc_info=True)
            return False
        return True

    def close(self) -> None:
        self.client.close()
