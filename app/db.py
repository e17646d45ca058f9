"""The one MongoDB client of a process, its collections, and the indexes they need."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo import ASCENDING, IndexModel, ReadPreference

from app.call_counting import counted
from app.settings import Settings

logger = logging.getLogger("memql.db")

Document = dict[str, Any]
Collection = AsyncIOMotorCollection[Document]

USERS = "users"
SESSIONS = "sessions"
MEMORIES = "memories"
TTL_INDEX = "deletedAt_ttl"


@dataclass(frozen=True)
class IndexSpec:
    collection: str
    keys: tuple[tuple[str, int], ...]
    name: str
    unique: bool = False
    expire_after_seconds: int | None = None

    def model(self) -> IndexModel:
        options: dict[str, Any] = {"name": self.name, "unique": self.unique}
        if self.expire_after_seconds is not None:
            options["expireAfterSeconds"] = self.expire_after_seconds
        return IndexModel(list(self.keys), **options)


def index_specs(*, embedded: bool, purge_after_seconds: int) -> list[IndexSpec]:
    """The indexes memql's queries need on MongoDB; for the embedded store only those it needs.

    mongomock scans a whole collection for every query whatever its indexes, and a unique index
    makes every insert scan it too. The embedded store's writes are single atomic
    calls, so uniqueness holds there without the indexes (every create is an upsert keyed on
    the identifier) and it gets none of them. A memory's uuid is its `_id`, unique on both.

    The TTL indexes on `deletedAt` purge soft-deleted documents `purge_after_seconds` after
    their deletion (Zep's purge). mongomock would honour them by scanning the collection on every
    read and write, so the embedded store has none and `app.sweeper.Sweeper` does their work.
    """
    if embedded:
        return []
    ttl = [
        IndexSpec(
            name,
            (("deletedAt", ASCENDING),),
            TTL_INDEX,
            expire_after_seconds=purge_after_seconds,
        )
        for name in (USERS, SESSIONS, MEMORIES)
    ]
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
        *ttl,
    ]


def _as_is(collection: Collection) -> Collection:
    return collection


class Database:
    """Holds the motor client (or mongomock-motor's, for the embedded store) and collections."""

    def __init__(
        self,
        client: AsyncIOMotorClient[Document],
        name: str,
        *,
        embedded: bool,
        purge_after_seconds: int,
        count_calls: bool = False,
    ) -> None:
        self.client = client
        self.embedded = embedded
        # mongomock answers every query with a scan of its whole collection; MongoDB walks an
        # index. app.store.keyset.ChildLists plans nested pages by this.
        self.full_scans = embedded
        self.purge_after_seconds = purge_after_seconds
        # Primary reads whatever readPreference the URL gives: the store reads before it writes
        # (a metadata merge, a write lease), and a secondary may not have the last write yet.
        self.db: AsyncIOMotorDatabase[Document] = client.get_database(
            name, read_preference=ReadPreference.PRIMARY
        )
        self._wrap: Callable[[Collection], Collection] = counted if count_calls else _as_is
        self.users = self._wrap(self.db[USERS])
        self.sessions = self._wrap(self.db[SESSIONS])
        self.memories = self._wrap(self.db[MEMORIES])
        self._collections = {USERS: self.users, SESSIONS: self.sessions, MEMORIES: self.memories}

    @classmethod
    def connect(cls, settings: Settings, *, count_calls: bool = False) -> Database:
        """The database `settings` name; with `count_calls`, its collections count their calls
        in `app.call_counting.counting_calls()` contexts (for the benchmark and tests)."""
        if settings.mongodb_url is None:
            from mongomock_motor import AsyncMongoMockClient

            logger.warning(
                "MEMQL_MONGODB_URL is not set: using the embedded in-memory store; "
                "data is not persisted and is lost when the process exits"
            )
            client: AsyncIOMotorClient[Document] = AsyncMongoMockClient(tz_aware=True)
            return cls(
                client,
                settings.database,
                embedded=True,
                purge_after_seconds=settings.purge_after_seconds,
                count_calls=count_calls,
            )
        client = AsyncIOMotorClient(
            settings.mongodb_url,
            tz_aware=True,
            appname="memql",
            serverSelectionTimeoutMS=settings.mongodb_timeout_ms,
        )
        return cls(
            client,
            settings.database,
            embedded=False,
            purge_after_seconds=settings.purge_after_seconds,
            count_calls=count_calls,
        )

    def collection(self, name: str) -> Collection:
        return self._collections.get(name) or self._wrap(self.db[name])

    async def ensure_indexes(self) -> None:
        """Create the indexes; creating an existing identical index is a no-op in MongoDB.

        A TTL index whose `expireAfterSeconds` is not the configured one is changed in place
        with `collMod`: creating it anew would fail on the differing option, and dropping it
        first would leave a live collection unpurged while the new index builds.
        """
        by_collection: dict[str, list[IndexSpec]] = {}
        for spec in index_specs(
            embedded=self.embedded, purge_after_seconds=self.purge_after_seconds
        ):
            by_collection.setdefault(spec.collection, []).append(spec)
        for name, specs in by_collection.items():
            await self._ensure_collection_indexes(name, specs)
        if by_collection:
            logger.info("indexes ensured on %s", ", ".join(sorted(by_collection)))

    async def _ensure_collection_indexes(self, name: str, specs: list[IndexSpec]) -> None:
        collection = self.collection(name)
        existing = {tuple(index["key"].items()): index async for index in collection.list_indexes()}
        to_create: list[IndexSpec] = []
        for spec in specs:
            current = existing.get(spec.keys)
            if spec.expire_after_seconds is None or current is None:
                to_create.append(spec)
            else:
                await self._set_expiry(name, current, spec.expire_after_seconds)
        if to_create:
            await collection.create_indexes([spec.model() for spec in to_create])
        for spec in to_create:
            if spec.expire_after_seconds is not None:
                logger.info(
                    "created TTL index %s.%s: deleted documents are purged %d s after their "
                    "deletion",
                    name,
                    spec.name,
                    spec.expire_after_seconds,
                )

    async def _set_expiry(self, collection: str, index: Document, seconds: int) -> None:
        """Give an existing index on `deletedAt` the configured `expireAfterSeconds`."""
        name = index["name"]
        before = index.get("expireAfterSeconds")
        if before == seconds:
            logger.info(
                "TTL index %s.%s already purges %d s after deletion", collection, name, seconds
            )
            return
        await self.db.command(
            {"collMod": collection, "index": {"name": name, "expireAfterSeconds": seconds}}
        )
        logger.info(
            "changed TTL index %s.%s with collMod: expireAfterSeconds %s -> %d",
            collection,
            name,
            before,
            seconds,
        )

    async def ping(self) -> bool:
        try:
            await self.client.admin.command("ping")
        except Exception:
            logger.warning("database ping failed", exc_info=True)
            return False
        return True

    def close(self) -> None:
        self.client.close()
