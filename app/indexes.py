"""The indexes memql needs and their reconciliation with what a MongoDB already has (`memql
indexes`, and the server's start-up): which exist, which to create, which TTL periods to change,
and what an operator must fix. The embedded store's own indexes are listed here too
(`embedded_indexes`) and kept by app.persistence.indexes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import OperationFailure

from app.db import MEMORIES, SESSIONS, USERS, Document
from app.store.search import backfill_search_terms

if TYPE_CHECKING:
    from app.db import Database
    from app.persistence.indexes import EmbeddedIndex

logger = logging.getLogger("memql.db")

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
    backfilled: int = 0
    """Memories stored without their search terms (by a memql before search), given them."""

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
        if self.backfilled:
            lines.append(f"search terms added to {self.backfilled} memories")
        return lines + [f"warning: {warning}" for warning in self.warnings]


def index_specs(*, embedded: bool, purge_after_seconds: int) -> list[IndexSpec]:
    """The indexes memql's queries need on MongoDB; for the embedded store only those it needs.

    Memory search finds memories by their words (`searchTerms`, multikey) in its own index.

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

    Filtered session lists (app.store.session_filter) use the listing indexes: a creation time
    range bounds the scan on `createdAt`, metadata paths and `updatedAt` are tested on the
    sessions fetched (docs/operations.md says why no metadata index is made).

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
        # Memory search (app.store.search): multikey on each memory's words; leading with them,
        # it serves a search of one session, of many (`$in`), of every session, and the
        # backfill's `searchTerms: null`.
        IndexSpec(
            MEMORIES,
            (("searchTerms", ASCENDING), ("sessionId", ASCENDING), ("deletedAt", ASCENDING)),
            "searchTerms_sessionId_deletedAt",
        ),
        *ttl,
    ]


def embedded_indexes() -> dict[str, tuple[EmbeddedIndex, ...]]:
    """The embedded store's indexes (app.persistence.indexes): those of `index_specs` that
    memql's queries lead with, for equality and `$in` lookups (`equal`; a date range too, for an
    index of one field) and reads in a list's order (`order`). A memory's uuid is its `_id`,
    which mongomock looks up by key."""
    from app.persistence.indexes import EmbeddedIndex  # mongomock, loaded for the embedded store

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


async def ensure_indexes(db: Database) -> IndexReport:
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
    for spec in index_specs(embedded=db.embedded, purge_after_seconds=db.purge_after_seconds):
        by_collection.setdefault(spec.collection, []).append(spec)
    unchanged_ttl: list[str] = []
    for name, specs in by_collection.items():
        unchanged_ttl += await _ensure_collection_indexes(db, name, specs, report)
    if unchanged_ttl:
        report.warnings.append(
            f"cannot change the TTL indexes to purge {db.purge_after_seconds} s after "
            "deletion (MEMQL_PURGE_AFTER_SECONDS): the MongoDB user may not run collMod, "
            "which the built-in readWrite role lacks; grant it dbAdmin on database "
            f"{db.db.name!r} as well (or a role with the collMod action). Until then "
            "deleted documents are purged as the indexes still say, after: "
            f"{', '.join(unchanged_ttl)}"
        )
    report.backfilled = await backfill_search_terms(db.memories)
    if report.backfilled:
        logger.info("added search terms to %d memories stored without them", report.backfilled)
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
    db: Database, name: str, specs: list[IndexSpec], report: IndexReport
) -> list[str]:
    """Make `specs` on collection `name`; returns the TTL indexes collMod could not change,
    each with the period it still has."""
    collection = db.collection(name)
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
        elif spec.expire_after_seconds is not None and not await _set_expiry(
            db, name, index, spec.expire_after_seconds, report
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
                "created TTL index %s.%s: deleted documents are purged %d s after their deletion",
                name,
                created,
                spec.expire_after_seconds,
            )
    return unchanged_ttl


async def _set_expiry(
    db: Database, collection: str, index: Document, seconds: int, report: IndexReport
) -> bool:
    """Give an existing index on `deletedAt` the configured `expireAfterSeconds`; False when
    the user may not (code 13, Unauthorized: the collMod action is not in readWrite)."""
    name = index["name"]
    before = index.get("expireAfterSeconds")
    if before == seconds:
        logger.info("TTL index %s.%s already purges %d s after deletion", collection, name, seconds)
        return True
    try:
        await db.db.command(
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
