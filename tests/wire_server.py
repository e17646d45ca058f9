"""The MongoDB-wire test server (SecantusDB), started for a test run: the known defects of its
0.7.0b3 corrected, the port written where the caller reads it.

`python -m tests.wire_server --port-file F [--storage-path DIR]` serves until SIGTERM or SIGINT;
`.ci/run` starts one for the suite's second run, and `WireServer` starts one from a test (for a
restart or a server of its own). SecantusDB is GPL-2.0 and beta: a test-only dependency, never
imported by memql's package.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def compare_dates_as_instants() -> None:
    """SecantusDB 0.7.0b3 compares a stored date (decoded naive) with `$$NOW` (aware) by
    falling back to their type names, so `{$lt: ["$until", "$$NOW"]}` is never true and
    memql's write lease can never be taken. mongod compares both as UTC instants; so does
    this wrapper of `secantus.ordering._bson_lt`, which its callers look up at call time."""
    from secantus import ordering, storage

    less_than: Callable[[Any, Any], bool] = ordering._bson_lt

    def as_utc(value: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value

    def bson_lt(a: Any, b: Any) -> bool:
        if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
            return bool(as_utc(a) < as_utc(b))
        return less_than(a, b)

    ordering._bson_lt = bson_lt
    storage._bson_lt = bson_lt


def upserts_return_the_document_they_updated() -> None:
    """SecantusDB 0.7.0b3 answers a `findAndModify` upsert with `new: true` that a concurrent
    upsert beat to the insert with `value: null`, though it updated the document the other
    inserted. mongod returns that document (an upsert on a unique key is retried by the server
    on a duplicate key, by MongoDB's documentation of findAndModify); so does this wrapper,
    which reads it back in the rare reply that shows the race (n 1, nothing upserted)."""
    from secantus import commands

    handle = commands._HANDLERS["findAndModify"]

    def find_and_modify(doc: dict[str, Any], ctx: Any) -> dict[str, Any]:
        reply: dict[str, Any] = handle(doc, ctx)
        outcome = reply.get("lastErrorObject") or {}
        if (
            reply.get("ok") == 1
            and doc.get("upsert")
            and doc.get("new")
            and reply.get("value") is None
            and outcome.get("n") == 1
            and outcome.get("upserted") is None
        ):
            found = ctx.storage.find_matching(
                ctx.db_name, doc["findAndModify"], doc.get("query") or {}, limit=1
            )
            if found:
                fields = doc.get("fields")
                reply["value"] = commands.apply_projection(found[0], fields) if fields else found[0]
                reply["lastErrorObject"] = {"n": 1, "updatedExisting": True}
        return reply

    commands._HANDLERS["findAndModify"] = find_and_modify
    commands._HANDLERS["findandmodify"] = find_and_modify


WRITES = (
    "create",
    "createIndexes",
    "insert",
    "update",
    "delete",
    "findAndModify",
    "findandmodify",
    "drop",
    "dropDatabase",
)


def one_write_at_a_time() -> None:
    """SecantusDB 0.7.0b3 can deadlock when a write that creates a collection implicitly (an
    upsert) meets a `createIndexes` creating the same collection: one holds the storage lock
    and spins in WiredTiger on the key the other's open transaction holds, which waits for
    the lock (seen twice in a full run, and in the benchmark's seeding beside memql's index
    build; the server then answers nothing). mongod serialises such catalog changes itself;
    this runs the server's write commands one at a time, reads still alongside."""
    from secantus import commands

    lock = threading.Lock()

    def serialised(handle: Callable[[dict[str, Any], Any], dict[str, Any]]) -> Any:
        def run(doc: dict[str, Any], ctx: Any) -> dict[str, Any]:
            with lock:
                return handle(doc, ctx)

        return run

    for name in WRITES:
        commands._HANDLERS[name] = serialised(commands._HANDLERS[name])


def union_sub_pipelines_use_their_match() -> None:
    """SecantusDB 0.7.0b3 runs a `$unionWith` sub-pipeline over every document of its
    collection; mongod plans its leading `$match` (and a `$sort` and `$limit` after it) as a
    query, on an index. The answers are the same; without this, each level of memql's nested
    pages read every memory once per parent, which made the benchmark on the wire measure the
    surrogate rather than memql. This runs a leading `$match`, `$sort`, `$limit` as the query
    they are, through the server's own find."""
    from secantus import aggregate

    stage = aggregate._STAGES["$unionWith"]

    def union_with(spec: Any, docs: list[dict[str, Any]], ctx: Any) -> list[dict[str, Any]]:
        pipeline = spec.get("pipeline") if isinstance(spec, dict) else None
        if not pipeline or "$match" not in pipeline[0] or not isinstance(spec.get("coll"), str):
            unioned: list[dict[str, Any]] = stage(spec, docs, ctx)
            return unioned
        query: dict[str, Any] = {"filter": pipeline[0]["$match"]}
        rest = pipeline[1:]
        if rest and "$sort" in rest[0]:
            query["sort"], rest = rest[0]["$sort"], rest[1:]
        if rest and "$limit" in rest[0]:
            query["limit"], rest = rest[0]["$limit"], rest[1:]
        found = ctx.storage.find_matching(
            ctx.db_name, spec["coll"], collation=ctx.collation, **query
        )
        if rest:
            found = aggregate.apply_pipeline(
                found,
                rest,
                aggregate.PipelineContext(
                    storage=ctx.storage,
                    db_name=ctx.db_name,
                    coll_name=spec["coll"],
                    collation=ctx.collation,
                ),
            )
        return [*docs, *found]

    aggregate._STAGES["$unionWith"] = union_with


def residual_predicates_ride_an_index() -> None:
    """SecantusDB 0.7.0b3 plans a filter holding a field no index has (a session's metadata
    path beside userId, deletedAt and createdAt) as a COLLSCAN in `explain`, and runs it by
    looking one of its clauses up alone; mongod plans it on the index that holds the other
    fields (equalities, then a range on the next key) and tests the rest on each document it
    fetches (a FETCH filter). This gives the server's own planner, in `explain` and in the
    query alike, the part of such a filter that the index holding most of its fields can
    serve; every document read is still tested against the whole filter."""
    from secantus import storage

    storage_class: Any = storage.Storage
    pick = storage_class._pick_index_for_filter
    look_up = storage_class._try_index_id_keys

    def indexed_part(self: Any, db: str, coll: str, filter: Any) -> dict[str, Any] | None:
        if not isinstance(filter, dict) or any(name.startswith("$") for name in filter):
            return None
        best: dict[str, Any] = {}
        for _name, keys, _sparse, _unique in self._all_indexes(db, coll):
            part = {name: filter[name] for name in keys if name in filter}
            if len(part) > len(best):
                best = part
        # An index holding every field is the server's own case.
        return best if 0 < len(best) < len(filter) else None

    def pick_index_for_filter(self: Any, db: str, coll: str, filter: Any, **options: Any) -> Any:
        picked = pick(self, db, coll, filter, **options)
        part = indexed_part(self, db, coll, filter) if picked is None else None
        return pick(self, db, coll, part, **options) if part else picked

    def try_index_id_keys(self: Any, db: str, coll: str, filter: Any, **options: Any) -> Any:
        part = indexed_part(self, db, coll, filter)
        if part:
            found = look_up(self, db, coll, part, **options)
            if found is not None:
                return found
        return look_up(self, db, coll, filter, **options)

    storage_class._pick_index_for_filter = pick_index_for_filter
    storage_class._try_index_id_keys = try_index_id_keys


def serve(port: int, port_file: Path | None, storage_path: str, ttl_sweep_seconds: float) -> None:
    from secantus import SecantusDBServer

    compare_dates_as_instants()
    upserts_return_the_document_they_updated()
    one_write_at_a_time()
    union_sub_pipelines_use_their_match()
    residual_predicates_ride_an_index()
    server = SecantusDBServer(
        host="127.0.0.1",
        port=port,
        storage_path=storage_path,
        enable_test_commands=True,
        ttl_sweep_seconds=ttl_sweep_seconds,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        server.stop()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    server.start()
    if port_file is not None:
        port_file.write_text(str(server.port), encoding="utf-8")
    server.wait()


class WireServer:
    """A wire server in a process of its own on 127.0.0.1, stopped when the block ends;
    `restart()` stops it and starts it again on the same port and storage, as a database
    restarted under its clients."""

    def __init__(self, storage_path: Path, *, ttl_sweep_seconds: float = 1.0) -> None:
        self.storage_path = storage_path
        self.ttl_sweep_seconds = ttl_sweep_seconds
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self, timeout: float = 60.0) -> None:
        port_file = self.storage_path.parent / f"{self.storage_path.name}.port"
        port_file.unlink(missing_ok=True)
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.wire_server",
                "--port",
                str(self.port),
                "--port-file",
                str(port_file),
                "--storage-path",
                str(self.storage_path),
                "--ttl-sweep-seconds",
                str(self.ttl_sweep_seconds),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not port_file.exists() or not port_file.read_text(encoding="utf-8"):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the wire server did not start")
            time.sleep(0.05)
        self.port = int(port_file.read_text(encoding="utf-8"))

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @classmethod
    @contextlib.contextmanager
    def running(cls, storage_path: Path, **options: Any) -> Iterator[WireServer]:
        server = cls(storage_path, **options)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--port-file", type=Path, help="written with the port once it listens")
    parser.add_argument("--storage-path", default=":memory:")
    parser.add_argument(
        "--ttl-sweep-seconds",
        type=float,
        default=1.0,
        help="how often the TTL monitor runs (mongod's ttlMonitorSleepSecs, 60 there)",
    )
    arguments = parser.parse_args(argv)
    serve(arguments.port, arguments.port_file, arguments.storage_path, arguments.ttl_sweep_seconds)


if __name__ == "__main__":
    main()
