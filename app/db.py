"""The one MongoDB client of a process, its collections, and the indexes they need."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo import ASCENDING, IndexModel, ReadPreference
from pymongo.errors import OperationFailure, PyMongoError

from app.call_counting import counted
from app.clock import DatabaseClock, ProcessClock, QueryClock
from app.mongodb_url import check_mongodb_url
from app.persistence.write_gate import WriteGate, gated
from app.settings import Settings

if TYPE_CHECKING:
    from app.persistence.indexes import EmbeddedIndex

logger = logging.getLogger("memql.db")

Document = dict[str, Any]
Collection = AsyncIOMotorCollection[Document]

USERS = "users"
SESSIONS = "sessions"
MEMORIES = "memories"
TTL_INDEX = "deletedAt_ttl"


# MongoDB's error code for a command the user's roles do not allow.
UNAUTHORIZED = 13
# What an index may carry that makes it unfit to stand for one memql needs, and why.
_UNFIT_OPTIONS = {
    "partialFilterExpression": "is partial, so it lacks some documents",
    "sparse": "is sparse, so it lacks documents without its fields",
    "collation": "has a collation, which memql's queries do not ask for",
}


def _key_pattern(keys: Iterable[tuple[str, Any]]) -> tuple[tuple[str, Any], ...]:
    """Keys as compared: `1` and `1.0` (what the shell sends) are the same direction."""
    return tuple(
        (name, int(value) if isinstance(value, int | float) else value) for name, value in keys
    )


@dataclass(frozen=True)
class IndexSpec:
    collection: str
    keys: tuple[tuple[str, int], ...]
    name: str
    unique: bool = False
    expire_after_seconds: int | None = None

    def model(self, *, named: bool = True) -> IndexModel:
        """The index to create; unnamed, MongoDB names it after its keys (`sessionId_1`)."""
        options: dict[str, Any] = {"unique": self.unique}
        if named:
            options["name"] = self.name
        if self.expire_after_seconds is not None:
            options["expireAfterSeconds"] = self.expire_after_seconds
        return IndexModel(list(self.keys), **options)

    def has_keys_of(self, index: Document) -> bool:
        """Whether an existing index has this one's key pattern (MongoDB allows one index per
        pattern, whatever its name)."""
        return _key_pattern(index["key"].items()) == _key_pattern(self.keys)

    def shortfalls(self, index: Document) -> list[str]:
        """Why an existing index with this one's keys cannot stand for it; empty when it can.
        A TTL period that differs is not among them: collMod changes it in place."""
        problems = [why for option, why in _UNFIT_OPTIONS.items() if index.get(option)]
        if self.unique and not index.get("unique"):
            problems.append("is not unique")
        if self.expire_after_seconds is not None and "expireAfterSeconds" not in index:
            problems.append("is not a TTL index, so deleted documents are never purged")
        return problems


@dataclass
class IndexReport:
    """What making the indexes found, created and changed, and what needs an operator."""

    found: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    """Indexes on memql's collections that stand for none of memql's: a DBA's, a shard key's,
    or one memql made before its indexes changed."""
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        lines = [
            f"{what}: {', '.join(names) if names else 'none'}"
            for what, names in (
                ("found", self.found),
                ("created", self.created),
                ("changed", self.changed),
                ("not used by memql", self.unused),
            )
        ]
        return lines + [f"warning: {warning}" for warning in self.warnings]


def index_specs(*, embedded: bool, purge_after_seconds: int) -> list[IndexSpec]:
    """The indexes memql's queries need on MongoDB; for the embedded store only those it needs.

    Every list and count asks for live documents only (`deletedAt: null`), so `deletedAt`
    follows a list's equality fields and precedes its sort keys in the index (MongoDB's
    equality, sort, range order): the bounds `deletedAt: [null, null]` skip every soft-deleted
    entry, where an index without it would walk each deleted document until the TTL monitor
    purges it. A partial index on live documents cannot do it: a live document has no
    `deletedAt`, and `partialFilterExpression` cannot test that a field is missing (`$exists`
    only takes true there, by MongoDB's documentation).

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
    live_by_creation = (("deletedAt", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING))
    return [
        IndexSpec(USERS, (("userId", ASCENDING),), "userId_unique", unique=True),
        IndexSpec(USERS, live_by_creation, "deletedAt_createdAt_id"),
        IndexSpec(SESSIONS, (("sessionId", ASCENDING),), "sessionId_unique", unique=True),
        IndexSpec(SESSIONS, live_by_creation, "deletedAt_createdAt_id"),
        IndexSpec(
            SESSIONS, (("userId", ASCENDING), *live_by_creation), "userId_deletedAt_createdAt_id"
        ),
        IndexSpec(
            MEMORIES,
            (("sessionId", ASCENDING), ("deletedAt", ASCENDING), ("seq", ASCENDING)),
            "sessionId_deletedAt_seq",
        ),
        *ttl,
    ]


def embedded_indexes() -> dict[str, tuple[EmbeddedIndex, ...]]:
    """The embedded store's indexes (app.persistence.indexes): those of `index_specs` that
    memql's queries lead with, for equality and `$in` lookups (`equal`; a date range too, for an
    index of one field) and reads in a list's order (`order`). A memory's uuid is its `_id`,
    which mongomock looks up by key."""
    from app.persistence.indexes import EmbeddedIndex

    live_by_creation = ("createdAt", "_id")
    return {
        USERS: (EmbeddedIndex(("userId",)), EmbeddedIndex(("deletedAt",), live_by_creation)),
        SESSIONS: (
            EmbeddedIndex(("sessionId",)),
            EmbeddedIndex(("userId",)),
            EmbeddedIndex(("deletedAt",), live_by_creation),
            EmbeddedIndex(("userId", "deletedAt"), live_by_creation),
        ),
        MEMORIES: (
            EmbeddedIndex(("sessionId",)),
            EmbeddedIndex(("sessionId", "deletedAt"), ("seq",)),
            EmbeddedIndex(("deletedAt",)),  # the purge: deleted before a time
        ),
    }


# MongoDB's error code for failed authentication.
AUTHENTICATION_FAILED = 18
# What pymongo's socket errors say, and what memql says of them instead.
_CONNECTION_PROBLEMS = (
    ("connection refused", "connection refused; is it running?"),
    ("name or service not known", "no such host; check the host names in MEMQL_MONGODB_URL"),
    ("nodename nor servname", "no such host; check the host names in MEMQL_MONGODB_URL"),
    ("name resolution", "its host name does not resolve (DNS); check MEMQL_MONGODB_URL"),
    ("timed out", "no answer in time; is the host reachable from here (network, firewall)?"),
    (
        "no replica set members",
        "no primary yet; is the replica set initiated, and has it elected a primary?",
    ),
)


def describe_connection_error(error: PyMongoError, hosts: str) -> str:
    """One line for an operator, in place of pymongo's, which carries a dump of the topology."""
    if isinstance(error, OperationFailure):
        if error.code == AUTHENTICATION_FAILED:
            return (
                f"MongoDB at {hosts} refused memql's credentials: check the user, password and "
                "authSource in MEMQL_MONGODB_URL"
            )
        return f"MongoDB at {hosts} answered: {first_line(error)}"
    text = re.sub(r" \(configured timeouts: [^)]*\)", "", str(error).split(", Timeout: ")[0])
    lowered = text.lower()
    for said, meaning in _CONNECTION_PROBLEMS:
        if said in lowered:
            return f"cannot reach MongoDB at {hosts}: {meaning}"
    return f"cannot reach MongoDB at {hosts}: {first_line(text)}"


def first_line(error: object, limit: int = 300) -> str:
    """The first line of an error's message, bounded: never a dump of pymongo's state."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _refuse_truth_tests() -> None:
    """Make the embedded store's collections and databases refuse `bool()`, as pymongo's do
    (NotImplementedError): mongomock-motor's allow it, so code that truth-tests one (`x or y`,
    `if collection:`) passed every embedded test and failed on MongoDB."""
    from mongomock_motor import AsyncMongoMockCollection, AsyncMongoMockDatabase

    def refuse(self: object) -> bool:
        raise NotImplementedError(
            f"{type(self).__name__} objects do not implement truth value testing or bool(): "
            "compare with None instead (as pymongo's refuse it)"
        )

    for driver_class in (AsyncMongoMockCollection, AsyncMongoMockDatabase):
        driver_class.__bool__ = refuse  # type: ignore[method-assign]


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
        gate_writes: bool = False,
        hosts: str = "the configured hosts",
    ) -> None:
        self.client = client
        self.embedded = embedded
        self.hosts = hosts
        """Where the database is, for messages: `host:port,…`, never the credentials."""
        self.clock: QueryClock = ProcessClock() if embedded else DatabaseClock()
        """The clock write leases are measured by (app.store.writelock)."""
        self.unions = not embedded
        """Whether the database runs `$unionWith` (MongoDB; mongomock has none):
        app.store.keyset.ChildLists plans nested pages by this."""
        self.purge_after_seconds = purge_after_seconds
        # Primary reads whatever readPreference the URL gives: the store reads before it writes
        # (a metadata merge, a write lease), and a secondary may not have the last write yet.
        self.db: AsyncIOMotorDatabase[Document] = client.get_database(
            name, read_preference=ReadPreference.PRIMARY
        )
        self.writes: WriteGate | None = WriteGate() if gate_writes else None
        """Counts the writes that change data and holds them while a snapshot copies it: on an
        embedded store that keeps its data on disk (app.persistence.snapshots)."""
        self._count: Callable[[Collection], Collection] = counted if count_calls else _as_is
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

            _refuse_truth_tests()

            from app.persistence.indexes import install as install_indexes

            if settings.snapshot_dir is None:
                logger.warning(
                    "MEMQL_MONGODB_URL is not set and MEMQL_DATA_DIR is empty: using the "
                    "embedded in-memory store; data is not persisted and is lost when the "
                    "process exits"
                )
            client: AsyncIOMotorClient[Document] = AsyncMongoMockClient(tz_aware=True)
            for name, definitions in embedded_indexes().items():
                install_indexes(client[settings.database][name], definitions)
            return cls(
                client,
                settings.database,
                embedded=True,
                purge_after_seconds=settings.purge_after_seconds,
                count_calls=count_calls,
                gate_writes=settings.snapshot_dir is not None,
            )
        if settings.data_dir_ignored:
            logger.warning(
                "MEMQL_DATA_DIR (%s) is ignored: MEMQL_MONGODB_URL is set, and MongoDB keeps "
                "the data",
                settings.data_dir,
            )
        # The URL's appname, when it names one (a deployment telling its processes apart in
        # MongoDB's logs and currentOp), else memql: pymongo lets a keyword override the URL.
        options: dict[str, Any] = {
            "tz_aware": True,
            "serverSelectionTimeoutMS": settings.mongodb_timeout_ms,
        }
        if not re.search(r"[?&]appname=", settings.mongodb_url, re.IGNORECASE):
            options["appname"] = "memql"
        client = AsyncIOMotorClient(settings.mongodb_url, **options)
        return cls(
            client,
            settings.database,
            embedded=False,
            purge_after_seconds=settings.purge_after_seconds,
            count_calls=count_calls,
            hosts=check_mongodb_url(settings.mongodb_url),
        )

    def _wrap(self, collection: Collection) -> Collection:
        if self.writes is not None:
            collection = gated(collection, self.writes)
        return self._count(collection)

    def collection(self, name: str) -> Collection:
        # Never truth-test a driver object: pymongo's Collection refuses it (mongomock's not).
        known = self._collections.get(name)
        return known if known is not None else self._wrap(self.db[name])

    async def ensure_indexes(self) -> IndexReport:
        """Make the indexes memql needs, and report what was found, created and changed.

        An existing index with the key pattern of one memql needs stands for it, whatever its
        name (a DBA's, or the one shardCollection made): creating memql's own beside it would
        fail (code 85) and abort start-up. One that cannot stand for it (not unique where memql
        needs uniqueness, partial, sparse, with a collation) is reported, since MongoDB keeps
        one index per key pattern and memql never drops an index. Only missing indexes are
        created, in one createIndexes per collection.

        A TTL index whose `expireAfterSeconds` is not the configured one is changed in place
        with `collMod`: creating it anew would fail on the differing option, and dropping it
        first would leave a live collection unpurged while the new index builds.
        """
        report = IndexReport()
        by_collection: dict[str, list[IndexSpec]] = {}
        for spec in index_specs(
            embedded=self.embedded, purge_after_seconds=self.purge_after_seconds
        ):
            by_collection.setdefault(spec.collection, []).append(spec)
        unchanged_ttl: list[str] = []
        for name, specs in by_collection.items():
            unchanged_ttl += await self._ensure_collection_indexes(name, specs, report)
        if unchanged_ttl:
            report.warnings.append(
                f"cannot change the TTL indexes to purge {self.purge_after_seconds} s after "
                "deletion (MEMQL_PURGE_AFTER_SECONDS): the MongoDB user may not run collMod, "
                "which the built-in readWrite role lacks; grant it dbAdmin on database "
                f"{self.db.name!r} as well (or a role with the collMod action). Until then "
                "deleted documents are purged as the indexes still say, after: "
                f"{', '.join(unchanged_ttl)}"
            )
        for warning in report.warnings:
            logger.warning("%s", warning)
        if by_collection:
            logger.info(
                "indexes on %s: found %s; created %s",
                ", ".join(by_collection),
                ", ".join(report.found) or "none",
                ", ".join(report.created) or "none",
            )
        return report

    async def _ensure_collection_indexes(
        self, name: str, specs: list[IndexSpec], report: IndexReport
    ) -> list[str]:
        """Make `specs` on collection `name`; returns the TTL indexes collMod could not change,
        each with the period it still has."""
        collection = self.collection(name)
        existing = [index async for index in collection.list_indexes()]
        taken_names = {index["name"] for index in existing}
        to_create: list[IndexSpec] = []
        unchanged_ttl: list[str] = []
        standing = {"_id_"}
        for spec in specs:
            same_keys = [index for index in existing if spec.has_keys_of(index)]
            if not same_keys:
                to_create.append(spec)
                continue
            index = min(same_keys, key=lambda index: len(spec.shortfalls(index)))
            standing.add(index["name"])
            report.found.append(f"{name}.{index['name']}")
            if problems := spec.shortfalls(index):
                report.warnings.append(
                    f"index {name}.{index['name']} has the keys memql needs for {spec.name} "
                    f"but {' and '.join(problems)}: memql does not drop indexes, so drop or "
                    "fix it, then run `memql indexes`"
                )
            elif spec.expire_after_seconds is not None and not await self._set_expiry(
                name, index, spec.expire_after_seconds, report
            ):
                unchanged_ttl.append(f"{name} {index.get('expireAfterSeconds')} s")
        report.unused += [
            f"{name}.{index['name']}" for index in existing if index["name"] not in standing
        ]
        if to_create:
            # A name taken by an index with other keys would fail the whole command (code 86):
            # such an index gets the name MongoDB gives it instead.
            await collection.create_indexes(
                [spec.model(named=spec.name not in taken_names) for spec in to_create]
            )
        for spec in to_create:
            created = spec.model(named=spec.name not in taken_names).document["name"]
            report.created.append(f"{name}.{created}")
            if spec.expire_after_seconds is not None:
                logger.info(
                    "created TTL index %s.%s: deleted documents are purged %d s after their "
                    "deletion",
                    name,
                    created,
                    spec.expire_after_seconds,
                )
        return unchanged_ttl

    async def _set_expiry(
        self, collection: str, index: Document, seconds: int, report: IndexReport
    ) -> bool:
        """Give an existing index on `deletedAt` the configured `expireAfterSeconds`; False when
        the user may not (code 13, Unauthorized: the collMod action is not in readWrite)."""
        name = index["name"]
        before = index.get("expireAfterSeconds")
        if before == seconds:
            logger.info(
                "TTL index %s.%s already purges %d s after deletion", collection, name, seconds
            )
            return True
        try:
            await self.db.command(
                {"collMod": collection, "index": {"name": name, "expireAfterSeconds": seconds}}
            )
        except OperationFailure as exc:
            if exc.code != UNAUTHORIZED:
                raise
            return False
        report.changed.append(f"{collection}.{name}")
        logger.info(
            "changed TTL index %s.%s with collMod: expireAfterSeconds %s -> %d",
            collection,
            name,
            before,
            seconds,
        )
        return True

    async def unreachable(self) -> str | None:
        """None when the database answers a ping; otherwise one line saying why it does not."""
        try:
            await self.client.admin.command("ping")
        except PyMongoError as exc:
            return describe_connection_error(exc, self.hosts)
        return None

    def close(self) -> None:
        self.client.close()
