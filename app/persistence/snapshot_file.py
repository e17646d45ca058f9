"""The snapshot file: every collection of the embedded store with its indexes, as a stream of
BSON documents that `bsondump` can read.

    header   {memqlSnapshot: 1, writtenAt, writtenBy, collections: [{name, documents, indexes}]}
    the documents of each collection in turn, as many as its header entry says
    trailer  {memqlSnapshotEnd: <documents>, sha256: <hex digest of every byte before it>}

`memqlSnapshot` is the format version, and stays the first field of the first document in every
format, so that any memql can tell a newer file from a broken one. The trailer has a fixed size
and comes last: a file cut short lacks it, a damaged one fails its checksum.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import bson
from bson.codec_options import DEFAULT_CODEC_OPTIONS
from bson.errors import BSONError
from bson.int64 import Int64

from app.persistence.data_dir import DataDir, sync_directory

FORMAT = 1
FORMAT_KEY = "memqlSnapshot"
END_KEY = "memqlSnapshotEnd"
CODEC_OPTIONS = DEFAULT_CODEC_OPTIONS.with_options(tz_aware=True, tzinfo=UTC)
STORED_CODEC_OPTIONS = DEFAULT_CODEC_OPTIONS
"""Naive UTC dates, as mongomock keeps them."""

Document = dict[str, Any]


def _trailer(documents: int, digest: str) -> bytes:
    return bson.encode({END_KEY: Int64(documents), "sha256": digest})


TRAILER_SIZE = len(_trailer(0, "0" * 64))


@dataclass
class CollectionImage:
    """One collection as a snapshot holds it: its documents, and its indexes as `list_indexes`
    describes them (all but `_id_`)."""

    name: str
    documents: list[Document]
    indexes: list[Document] = field(default_factory=list)


@dataclass
class SnapshotImage:
    written_at: datetime
    collections: list[CollectionImage]

    @property
    def documents(self) -> int:
        return sum(len(collection.documents) for collection in self.collections)


class SnapshotFileError(Exception):
    """A snapshot memql cannot start from; the message names the file and what to do."""


def memql_version() -> str:
    try:
        return version("memql")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def encode_documents(documents: Iterable[Document]) -> list[bytes]:
    """Each document as BSON: one call per document, so that a thread doing this hands the
    interpreter back to the event loop between documents."""
    return [bson.encode(document) for document in documents]


def write_snapshot_file(
    data_dir: DataDir,
    written_at: datetime,
    collections: Sequence[tuple[str, list[Document], list[bytes]]],
) -> int:
    """Replace the data directory's snapshot with one of `collections`, each given as (name,
    indexes, encoded documents); returns its size in bytes.

    It never leaves a partial file under the snapshot's name: it writes a temporary file and
    fsyncs it, keeps the current snapshot as the previous one (a hard link, so the current name
    never goes missing), renames the new file over the current one, and fsyncs the directory so
    the renames survive a power cut. Documents are written and hashed one at a time, never
    joined into one large bytes object: a copy of tens of megabytes holds the interpreter, and
    so the event loop, for as long as it takes."""
    header = {
        FORMAT_KEY: FORMAT,
        "writtenAt": written_at,
        "writtenBy": f"memql {memql_version()}",
        "collections": [
            {"name": name, "documents": len(documents), "indexes": indexes}
            for name, indexes, documents in collections
        ],
    }
    temporary = data_dir.snapshot.with_name(data_dir.snapshot.name + ".tmp")
    digest = hashlib.sha256()
    count = sum(len(documents) for _, _, documents in collections)
    with temporary.open("wb") as file:
        for chunk in _chunks(bson.encode(header), collections):
            file.write(chunk)
            digest.update(chunk)
        file.write(_trailer(count, digest.hexdigest()))
        file.flush()
        os.fsync(file.fileno())
        size = file.tell()
    if data_dir.snapshot.exists():
        previous = data_dir.previous.with_name(data_dir.previous.name + ".tmp")
        previous.unlink(missing_ok=True)
        os.link(data_dir.snapshot, previous)
        os.replace(previous, data_dir.previous)
    os.replace(temporary, data_dir.snapshot)
    sync_directory(data_dir.path)
    return size


def _chunks(
    header: bytes, collections: Sequence[tuple[str, list[Document], list[bytes]]]
) -> Iterator[bytes]:
    yield header
    for _, _, documents in collections:
        yield from documents


def read_snapshot_file(
    path: Path, previous: Path | None = None, *, as_stored: bool = False
) -> SnapshotImage:
    """The snapshot in `path`, checked whole before anything is decoded; SnapshotFileError when
    it is from a newer memql, cut short, damaged or no snapshot at all. `previous` is the
    snapshot kept before it, which the error offers as a way out. Dates are UTC, or with
    `as_stored` naive UTC, as the embedded store keeps them (a restore stores them as they
    are)."""
    checked = _checked(path, previous)
    entries = checked.header["collections"]
    try:
        documents = bson.decode_all(
            checked.documents, STORED_CODEC_OPTIONS if as_stored else CODEC_OPTIONS
        )
    except BSONError as exc:
        raise _broken(path, previous, f"is damaged: {exc}") from None
    if len(documents) != checked.count or sum(e["documents"] for e in entries) != checked.count:
        raise _broken(path, previous, "is damaged: it holds another number of documents")
    collections = []
    start = 0
    for entry in entries:
        end = start + entry["documents"]
        collections.append(CollectionImage(entry["name"], documents[start:end], entry["indexes"]))
        start = end
    return SnapshotImage(written_at=checked.header["writtenAt"], collections=collections)


def check_snapshot_file(path: Path, previous: Path | None = None) -> None:
    """What `read_snapshot_file` checks before it decodes the documents: the format, the
    trailer, the checksum."""
    _checked(path, previous)


@dataclass
class _Checked:
    header: Document
    documents: memoryview
    """The documents' bytes: between the header and the trailer."""
    count: int


def _checked(path: Path, previous: Path | None) -> _Checked:
    data = path.read_bytes()
    header, header_length = _header(path, data, previous)
    if len(data) < header_length + TRAILER_SIZE:
        raise _broken(path, previous, f"is truncated ({len(data)} bytes, no trailer)")
    try:
        trailer = bson.decode(data[-TRAILER_SIZE:], CODEC_OPTIONS)
    except BSONError:
        trailer = {}
    if set(trailer) != {END_KEY, "sha256"}:
        raise _broken(path, previous, f"is truncated or damaged ({len(data)} bytes, no trailer)")
    body = memoryview(data)[:-TRAILER_SIZE]
    if hashlib.sha256(body).hexdigest() != trailer["sha256"]:
        raise _broken(path, previous, "is damaged: its checksum does not match its contents")
    return _Checked(header, body[header_length:], int(trailer[END_KEY]))


# How every snapshot begins, after the header's length: its first field, the int32 format.
_HEADER_START = b"\x10" + FORMAT_KEY.encode() + b"\x00"


def _header(path: Path, data: bytes, previous: Path | None) -> tuple[Document, int]:
    """The header and its length in bytes."""
    if not data:
        raise _broken(path, previous, "is empty")
    start = data[4 : 4 + len(_HEADER_START)]
    if start != _HEADER_START[: len(start)]:
        raise _not_a_snapshot(path)
    if len(data) < 4 + len(_HEADER_START):
        raise _broken(path, previous, f"is truncated ({len(data)} bytes)")
    (length,) = struct.unpack_from("<i", data)
    if length > len(data):
        raise _broken(path, previous, f"is truncated ({len(data)} bytes)")
    try:
        header = bson.decode(data[:length], CODEC_OPTIONS)
    except BSONError:
        raise _broken(path, previous, "is damaged: its header does not decode") from None
    format_version = header[FORMAT_KEY]
    if format_version > FORMAT:
        raise SnapshotFileError(
            f"{path} was written by a newer memql ({header.get('writtenBy', 'unknown')}, "
            f"snapshot format {format_version}; this memql {memql_version()} reads format "
            f"{FORMAT}): run that version or a later one on this directory, or export the data "
            "with it (`memql export FILE`) and import the file here (`memql import FILE`)"
        )
    return header, length


def _not_a_snapshot(path: Path) -> SnapshotFileError:
    return SnapshotFileError(
        f"{path} is not a memql snapshot: move it out of the data directory {path.parent}"
    )


def _broken(path: Path, previous: Path | None, what: str) -> SnapshotFileError:
    if previous is not None and previous.exists():
        way_out = (
            f"memql kept the snapshot before it as {previous.name}: move that over {path.name} "
            "to start from it (losing the writes made between the two), or put back a copy "
            "from your backups"
        )
    else:
        way_out = (
            f"put back a copy from your backups, or move {path.name} away to start with an "
            "empty store"
        )
    return SnapshotFileError(f"{path} {what}: memql cannot start from it; {way_out}")
