"""The one MongoDB client of a process, its collections, and the indexes they need."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo import ReadPreference
from pymongo.errors import OperationFailure, PyMongoError

from app.call_counting import counted
from app.clock import DatabaseClock, ProcessClock, QueryClock
from app.mongodb_url import check_mongodb_url
from app.persistence.write_gate import WriteGate, gated
from app.settings import Settings

if TYPE_CHECKING:
    from app.indexes import IndexReport
    from app.persistence.indexes import IndexedCollectionStore

logger = logging.getLogger("memql.db")

Document = dict[str, Any]
Collection = AsyncIOMotorCollection[Document]

USERS = "users"
SESSIONS = "sessions"
MEMORIES = "memories"


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
    (NotImplementedError): mongomock-motor's allow it, so code that truth-tests one (an `or` or
    an `if` on it) passed every embedded test and failed on MongoDB."""
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
        app.store.child_lists.ChildLists plans nested pages by this."""
        self.purge_after_seconds = purge_after_seconds
        self.indexed: dict[str, IndexedCollectionStore] = {}
        """The embedded store's indexed storage of each collection (none on MongoDB)."""
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

            from app.indexes import embedded_indexes
            from app.persistence.indexes import install as install_indexes

            if settings.snapshot_dir is None:
                logger.warning(
                    "MEMQL_MONGODB_URL is not set and MEMQL_DATA_DIR is empty: using the "
                    "embedded in-memory store; data is not persisted and is lost when the "
                    "process exits"
                )
            client: AsyncIOMotorClient[Document] = AsyncMongoMockClient(tz_aware=True)
            stores = {
                name: install_indexes(client[settings.database][name], definitions)
                for name, definitions in embedded_indexes().items()
            }
            embedded = cls(
                client,
                settings.database,
                embedded=True,
                purge_after_seconds=settings.purge_after_seconds,
                count_calls=count_calls,
                gate_writes=settings.snapshot_dir is not None,
            )
            embedded.indexed = stores
            return embedded
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

    def stored_documents(self) -> int:
        """How many documents the embedded store holds (0 on MongoDB)."""
        return sum(len(store) for store in self.indexed.values())

    async def ensure_indexes(self) -> IndexReport:
        """Make the indexes memql needs (app.indexes.ensure_indexes) and report on them."""
        from app.indexes import ensure_indexes

        return await ensure_indexes(self)

    async def unreachable(self) -> str | None:
        """None when the database answers a ping; otherwise one line saying why it does not."""
        try:
            await self.client.admin.command("ping")
        except PyMongoError as exc:
            return describe_connection_error(exc, self.hosts)
        return None

    def close(self) -> None:
        self.client.close()
