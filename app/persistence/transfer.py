"""`memql export` and `memql import`: every user, session and memory as JSON Lines, read and
written through motor's API, so that one file moves data between the embedded store and MongoDB
in either direction.

    {"memqlExport": 1, "exportedAt": {"$date": "…"}, "writtenBy": "memql 0.1.0"}
    {"collection": "users", "document": {"_id": {"$oid": "…"}, "userId": "alice", …}}
    …
    {"memqlExportEnd": {"users": 1, "sessions": 2, "memories": 6}}

Documents are MongoDB Extended JSON (relaxed), so ObjectIds, dates (to the millisecond) and
numbers come back exactly as they were stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import IO, Any

from bson import json_util
from pymongo.errors import BulkWriteError

from app.clock import utc_now
from app.db import MEMORIES, SESSIONS, USERS, Database, Document
from app.persistence.snapshot_file import memql_version
from app.search_terms import search_terms
from app.store.search import SEARCH_TERMS

FORMAT = 1
FORMAT_KEY = "memqlExport"
END_KEY = "memqlExportEnd"
COLLECTIONS = (USERS, SESSIONS, MEMORIES)
JSON_OPTIONS = json_util.RELAXED_JSON_OPTIONS.with_options(tz_aware=True, tzinfo=UTC)
BATCH = 1000
DUPLICATE_KEY = 11000
# What, besides `_id`, no two documents of a collection may share (the unique indexes on MongoDB).
UNIQUE_KEYS = {USERS: "userId", SESSIONS: "sessionId"}

Progress = Callable[[int], None]
"""Told how much more is done: documents (export) or bytes of the file (import)."""


class ExportFileError(Exception):
    """A file `memql import` cannot read; the message says where and why."""


def _no_progress(done: int) -> None:
    pass


def _line(value: Document) -> bytes:
    text = json_util.dumps(
        value, json_options=JSON_OPTIONS, ensure_ascii=False, separators=(",", ":")
    )
    return text.encode() + b"\n"


async def count_documents(db: Database) -> int:
    return sum([await db.collection(name).count_documents({}) for name in COLLECTIONS])


async def export_documents(
    db: Database, out: IO[bytes], progress: Progress = _no_progress
) -> dict[str, int]:
    """Write every document of users, sessions and memories (parents first, each in `_id`
    order) to `out`; returns how many of each."""
    out.write(
        _line(
            {FORMAT_KEY: FORMAT, "exportedAt": utc_now(), "writtenBy": f"memql {memql_version()}"}
        )
    )
    counts = {}
    for name in COLLECTIONS:
        counts[name] = 0
        async for document in db.collection(name).find({}).sort("_id", 1):
            out.write(_line({"collection": name, "document": document}))
            counts[name] += 1
            progress(1)
    out.write(_line({END_KEY: counts}))
    return counts


@dataclass
class ImportCounts:
    """What an import did with each collection's documents."""

    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLLECTIONS, 0))
    present: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLLECTIONS, 0))
    """Already there with the same `_id`: left as they are."""
    conflicting: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLLECTIONS, 0))
    """Left out: another document there has its userId or sessionId (or, for a memory, its
    session was left out)."""
    complete: bool = False
    """The file ended with its last line (an export that finished)."""

    @property
    def changed(self) -> bool:
        return any(self.added.values())


def read_lines(lines: Iterable[bytes], progress: Progress = _no_progress) -> Iterator[Document]:
    """The records of an export file after its header, checked line by line; the end line
    included."""
    header_seen = False
    for number, raw in enumerate(lines, start=1):
        progress(len(raw))
        if not raw.strip():
            continue
        try:
            record = json_util.loads(raw, json_options=JSON_OPTIONS)
        except (ValueError, TypeError) as exc:
            if not raw.endswith(b"\n"):
                raise ExportFileError(
                    f"the file ends in the middle of line {number}: it was cut short (an export "
                    "that did not finish?)"
                ) from None
            raise ExportFileError(f"line {number} is not JSON: {exc}") from None
        if not isinstance(record, dict):
            raise ExportFileError(f"line {number} is not a JSON object")
        if not header_seen:
            _check_header(record, number)
            header_seen = True
            continue
        if END_KEY not in record:
            name, document = record.get("collection"), record.get("document")
            if name not in COLLECTIONS or not isinstance(document, dict) or "_id" not in document:
                raise ExportFileError(
                    f"line {number} is neither a document of users, sessions or memories nor "
                    "the last line"
                )
        yield record
    if not header_seen:
        raise ExportFileError("the file is empty")


def _check_header(record: Document, number: int) -> None:
    version = record.get(FORMAT_KEY)
    if not isinstance(version, int):
        raise ExportFileError(f"line {number} is not the header of a `memql export` file")
    if version > FORMAT:
        raise ExportFileError(
            f"the file was written by a newer memql ({record.get('writtenBy')}, export format "
            f"{version}; this memql reads format {FORMAT}): import it with that version or a "
            "later one"
        )


class _Importer:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.counts = ImportCounts()
        self.left_out_sessions: set[Any] = set()

    async def taken(self, name: str, key: str, values: list[Any]) -> set[Any]:
        """Which of `values` some document of `name` already has as `key` (an indexed key on
        both stores)."""
        found = self.db.collection(name).find({key: {"$in": values}}, {key: 1})
        return {document.get(key) async for document in found}

    async def add(self, name: str, batch: list[Document]) -> None:
        by_id: dict[Any, Document] = {}
        for document in batch:
            if document["_id"] in by_id:
                self.counts.present[name] += 1
            by_id[document["_id"]] = document
        present = await self.taken(name, "_id", list(by_id))
        self.counts.present[name] += len(present)
        fresh = [document for key, document in by_id.items() if key not in present]
        fresh = await self._without_conflicts(name, fresh)
        if not fresh:
            return
        try:
            await self.db.collection(name).insert_many(fresh, ordered=False)
            added = fresh
        except BulkWriteError as exc:
            # Another writer got there first (MongoDB with memql serving meanwhile).
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            failed = {error["index"] for error in errors}
            self.counts.conflicting[name] += len(failed)
            added = [document for index, document in enumerate(fresh) if index not in failed]
        self.counts.added[name] += len(added)

    async def _without_conflicts(self, name: str, documents: list[Document]) -> list[Document]:
        if name == MEMORIES:
            kept = [doc for doc in documents if doc.get("sessionId") not in self.left_out_sessions]
            self.counts.conflicting[name] += len(documents) - len(kept)
            # Written afresh, whatever the file says: an export by a memql before search has
            # none, and they are this memql's words.
            for doc in kept:
                doc[SEARCH_TERMS] = search_terms(doc.get("content") or "")
            return kept
        key = UNIQUE_KEYS[name]
        taken = await self.taken(name, key, [document.get(key) for document in documents])
        kept, seen = [], set()
        for document in documents:
            value = document.get(key)
            if value in taken or value in seen:
                self.counts.conflicting[name] += 1
                if name == SESSIONS:
                    self.left_out_sessions.add(value)
            else:
                kept.append(document)
                seen.add(value)
        return kept


async def import_documents(db: Database, records: Iterable[Document]) -> ImportCounts:
    """Add the documents of an export to `db`: those whose `_id` is there already are left as
    they are, and those whose userId or sessionId another document has are left out (with the
    memories of such a session), so that importing a file twice changes nothing."""
    importer = _Importer(db)
    batch: list[Document] = []
    batch_of = ""
    for record in records:
        if END_KEY in record:
            importer.counts.complete = True
            break
        name = record["collection"]
        if batch and (name != batch_of or len(batch) >= BATCH):
            await importer.add(batch_of, batch)
            batch = []
        batch_of = name
        batch.append(record["document"])
    if batch:
        await importer.add(batch_of, batch)
    return importer.counts
