"""The embedded store's snapshots: restored at start-up, written every interval when something
changed and once more at shutdown, while the server keeps answering."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import IndexModel

from app.clock import utc_now
from app.db import MEMORIES, SESSIONS, USERS, Database, Document
from app.periodic import Periodic
from app.persistence.collection_pauses import freeze_stored_data
from app.persistence.data_dir import PREVIOUS, SNAPSHOT, DataDir
from app.persistence.snapshot_file import (
    CollectionImage,
    SnapshotFileError,
    SnapshotImage,
    check_snapshot_file,
    encode_documents,
    read_snapshot_file,
    write_snapshot_file,
)
from app.persistence.write_gate import WriteGate
from app.search_terms import shared
from app.store import writelock
from app.store.search import SEARCH_TERMS

logger = logging.getLogger("memql.snapshots")

COLLECTIONS = (USERS, SESSIONS, MEMORIES)
RESTORE_BATCH = 1000


@dataclass(frozen=True)
class SnapshotCost:
    """What taking one snapshot cost, in seconds and bytes."""

    loop_seconds: float
    """On the event loop: holding writes, listing the stored documents, letting writes go."""
    held_seconds: float
    """How long new writes waited: while a thread encoded the documents (reads went on)."""
    encode_seconds: float
    """In a thread, with writes held: every document to BSON."""
    write_seconds: float
    """In a thread, with writes flowing again: checksum, write, fsync, renames."""
    documents: int
    bytes: int


class CannotReadStore(Exception):
    """The embedded store's client is not the mongomock this code knows."""


def stored_documents(db: Database, name: str) -> Generator[Document, None, None]:
    """The documents the embedded store holds in collection `name`, as they are iterated:
    mongomock's own dictionaries, not copies, so they must not change while anyone reads them
    (see `Snapshots.take`).

    This is the one place memql reads mongomock's internals (`Collection._store`, a
    `CollectionStore`, and its `documents`, in mongomock 4.3), because motor's API cannot read a
    whole collection at a cost the server can bear: mongomock answers `find` on the event loop,
    copying every document field by field in Python, which takes seconds at 20,000 memories
    (measured: 6.3 s for `find({})`, and ~300 s at 100,000) and would stop every request for
    that long each interval. Iterating the stored dictionaries and encoding them to BSON takes
    a few microseconds a document, and runs in a thread. Restoring goes through motor's
    `insert_many`.
    """
    store: Any = getattr(db.db[name], "_store", None)
    if not isinstance(getattr(type(store), "documents", None), property):
        raise CannotReadStore(
            "the embedded store's mongomock has no Collection._store.documents: memql's "
            "snapshots need mongomock 4.3 (as pyproject.toml pins it)"
        )
    documents: Generator[Document, None, None] = store.documents
    return documents


class Snapshots:
    """Keeps an embedded `db` in `data_dir`: `restore()` at start-up, then `start()` writes a
    snapshot every `interval` seconds when the data changed, and `stop()` writes the last one."""

    def __init__(self, db: Database, data_dir: DataDir, *, interval: float) -> None:
        if db.writes is None:
            raise ValueError("snapshots need a Database made with gate_writes=True")
        self.db = db
        self.writes: WriteGate = db.writes
        self.data_dir = data_dir
        self.interval = interval
        self.saved_changes = 0
        """The count of changes the last snapshot written (or restored) holds."""
        self.last_cost: SnapshotCost | None = None
        self.periodic = Periodic(
            self.take, interval=interval, name="memql-snapshots", failed=self._failed
        )
        self._taking = asyncio.Lock()

    @classmethod
    async def open(
        cls, db: Database, path: Path, *, interval: float, purpose: str = "memql serve"
    ) -> Snapshots:
        """Lock the data directory at `path` (making it on first start) for `purpose` (what a
        second process is told holds it) and restore its snapshot into `db`, which must be
        empty; the directory stays locked until `close()`."""
        data_dir = DataDir(path)
        data_dir.lock(purpose)
        try:
            snapshots = cls(db, data_dir, interval=interval)
            started = time.perf_counter()
            image = await snapshots.restore()
            freeze_stored_data()
            took = time.perf_counter() - started
        except BaseException:
            data_dir.unlock()
            raise
        if image is None:
            state = "created it" if data_dir.created else "no snapshot yet"
        else:
            counts = ", ".join(f"{len(c.documents)} {c.name}" for c in image.collections)
            state = (
                f"restored {counts} from the snapshot of "
                f"{image.written_at:%Y-%m-%dT%H:%M:%SZ} in {took:.1f} s"
            )
        logger.info(
            "embedded store: keeping data in %s (MEMQL_DATA_DIR; %s): a snapshot every %g s "
            "when something changed, and at shutdown",
            data_dir,
            state,
            interval,
        )
        return snapshots

    def close(self) -> None:
        """Let go of the data directory (`stop()` first)."""
        self.data_dir.unlock()

    async def restore(self) -> SnapshotImage | None:
        """Put the data directory's snapshot into the database, documents as they were stored
        (ids, timestamps, seq counters, deletions) and then their indexes; None when there is
        none yet. A write lease in the snapshot is voided: its writer did not survive."""
        for partial in self.data_dir.remove_partial_writes():
            logger.info("removed %s, left by a snapshot write that never finished", partial)
        if not self.data_dir.snapshot.exists():
            _check_no_orphan(self.data_dir)
            return None
        image = await asyncio.to_thread(
            read_snapshot_file, self.data_dir.snapshot, self.data_dir.previous, as_stored=True
        )
        for collection in image.collections:
            await self._restore_collection(collection)
        await writelock.void_all(self.db.sessions)
        self.saved_changes = self.writes.changes
        return image

    async def _restore_collection(self, image: CollectionImage) -> None:
        collection = self.db.collection(image.name)
        documents = image.documents
        if image.name == MEMORIES:
            # One copy of each word for all memories, as a memory added while serving has.
            for document in documents:
                terms = document.get(SEARCH_TERMS)
                if isinstance(terms, list):
                    document[SEARCH_TERMS] = shared(terms)
        indexed = self.db.indexed.get(image.name)
        if indexed is not None:
            indexed.load(documents)
        else:  # pragma: no cover - every embedded collection memql restores is indexed
            for start in range(0, len(documents), RESTORE_BATCH):
                batch = documents[start : start + RESTORE_BATCH]
                await collection.insert_many(batch, ordered=True)
        if image.indexes:
            await collection.create_indexes([index_model(index) for index in image.indexes])

    async def take(self, *, force: bool = False) -> SnapshotCost | None:
        """Write a snapshot if anything changed since the last one (or with `force`); None
        when nothing had.

        Consistency comes from the write gate: new writes wait (those in progress finish
        first) while a thread reads the stored documents and encodes them; reads go on being
        answered meanwhile. Then writes flow again, and another thread writes the file. The
        event loop itself only closes and opens the gate and lists the indexes.
        """
        async with self._taking:
            if not force and self.writes.changes == self.saved_changes:
                return None
            started = time.perf_counter()
            async with self.writes.held() as changes:
                held = time.perf_counter()
                indexes = {name: await self._indexes(name) for name in COLLECTIONS}
                stored = {name: stored_documents(self.db, name) for name in COLLECTIONS}
                handed_over = time.perf_counter()
                encoding = asyncio.ensure_future(asyncio.to_thread(_timed_encode, stored))
                try:
                    encoded, encode_seconds = await asyncio.shield(encoding)
                except asyncio.CancelledError:
                    # Writes stay held until the thread is done reading the stored documents.
                    await asyncio.wait([encoding])
                    raise
                encoded_at = time.perf_counter()
            released = time.perf_counter()
            size, write_seconds = await asyncio.to_thread(
                self._write,
                [(name, indexes[name], encoded[name]) for name in COLLECTIONS],
            )
            self.saved_changes = changes
            self.last_cost = SnapshotCost(
                loop_seconds=(handed_over - started) + (released - encoded_at),
                held_seconds=released - held,
                encode_seconds=encode_seconds,
                write_seconds=write_seconds,
                documents=sum(len(documents) for documents in encoded.values()),
                bytes=size,
            )
            cost = self.last_cost
            logger.debug(
                "wrote a snapshot of %d documents, %d bytes: writes held %.0f ms (on the event "
                "loop %.1f ms), the file written in %.0f ms",
                cost.documents,
                cost.bytes,
                cost.held_seconds * 1000,
                cost.loop_seconds * 1000,
                cost.write_seconds * 1000,
            )
            return cost

    def _write(
        self, collections: Sequence[tuple[str, list[Document], list[bytes]]]
    ) -> tuple[int, float]:
        started = time.perf_counter()
        size = write_snapshot_file(self.data_dir, utc_now(), collections)
        return size, time.perf_counter() - started

    async def _indexes(self, name: str) -> list[Document]:
        return [
            dict(index)
            async for index in self.db.collection(name).list_indexes()
            if index["name"] != "_id_"
        ]

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self.periodic.task

    def start(self) -> None:
        self.periodic.start()

    def _failed(self) -> None:
        logger.exception(
            "writing a snapshot to %s failed; the one before is kept, and memql tries "
            "again in %g s",
            self.data_dir,
            self.interval,
        )

    async def stop(self) -> None:
        """End the periodic snapshots, then write the last one if anything changed since."""
        await self.periodic.stop()
        try:
            cost = await self.take()
        except Exception:
            logger.exception(
                "writing the last snapshot to %s failed: the writes made since the one before "
                "are lost",
                self.data_dir,
            )
            return
        if cost is None:
            logger.info("nothing changed since the last snapshot in %s", self.data_dir)
        else:
            logger.info(
                "wrote the last snapshot to %s: %d documents, %d bytes",
                self.data_dir.snapshot,
                cost.documents,
                cost.bytes,
            )


def check_data_dir(path: Path) -> None:
    """What would stop `Snapshots.open` on `path`, checked without keeping the directory: one
    memql may not write, another process on it, a snapshot memql cannot start from (checked
    whole, not decoded). Raises DataDirError or SnapshotFileError."""
    data_dir = DataDir(path)
    data_dir.check_writable()
    data_dir.check_free()
    if data_dir.snapshot.exists():
        check_snapshot_file(data_dir.snapshot, data_dir.previous)
    else:
        _check_no_orphan(data_dir)


def _check_no_orphan(data_dir: DataDir) -> None:
    """A previous snapshot without a current one is no state a crash leaves (the current name
    never goes missing): someone moved it, and starting empty would write over their data."""
    if data_dir.previous.exists():
        raise SnapshotFileError(
            f"{data_dir} holds {PREVIOUS} but no {SNAPSHOT}: rename {PREVIOUS} to {SNAPSHOT} "
            "to start from it, or move it away to start with an empty store"
        )


def _timed_encode(
    stored: dict[str, Generator[Document, None, None]],
) -> tuple[dict[str, list[bytes]], float]:
    """Each collection's documents as BSON, in a thread while writes are held (reads, which go
    on meanwhile, change no stored document)."""
    started = time.perf_counter()
    encoded = {}
    for name, documents in stored.items():
        # Closed at once whatever happens, not whenever the garbage collector gets to it:
        # iterating holds mongomock's read lock on the collection, which an insert on the
        # event loop would wait for.
        with contextlib.closing(documents):
            encoded[name] = encode_documents(documents)
    return encoded, time.perf_counter() - started


def index_model(index: Document) -> IndexModel:
    """An index as `list_indexes` described it, to create again."""
    options: dict[str, Any] = {
        key: value for key, value in index.items() if key not in ("key", "v", "ns")
    }
    return IndexModel(list(index["key"].items()), **options)
