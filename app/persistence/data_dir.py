"""The embedded store's data directory: where its snapshot files live, and the lock that keeps
one memql process at a time on it."""

from __future__ import annotations

import fcntl
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

SNAPSHOT = "snapshot.bson"
PREVIOUS = "snapshot.previous.bson"
LOCK = "memql.lock"


class DataDirError(Exception):
    """The data directory cannot be used; the message names it and says what to do."""


class DataDirInUse(DataDirError):
    """Another process holds the data directory's lock."""


class DataDir:
    """A directory holding the embedded store's snapshots (`snapshot`, and `previous`, the one
    before it), locked by the process that uses it (`lock()`, `unlock()`)."""

    def __init__(self, path: Path) -> None:
        self.path = path.absolute()
        self.snapshot = self.path / SNAPSHOT
        self.previous = self.path / PREVIOUS
        self.lock_file = self.path / LOCK
        self.created = False
        """Whether `lock()` made the directory (the first start on it)."""
        self._lock: IO[str] | None = None

    def __str__(self) -> str:
        return str(self.path)

    def lock(self, purpose: str = "memql serve") -> None:
        """Make the directory if it is missing and take its lock, or raise DataDirInUse naming
        the process that holds it. The lock is the kernel's (flock): it goes with the process
        that holds it, however that process ends."""
        if self._lock is not None:
            return
        try:
            self.created = not self.path.exists()
            self.path.mkdir(parents=True, exist_ok=True)
            lock = self.lock_file.open("a+", encoding="utf-8")
        except OSError as exc:
            raise DataDirError(
                f"cannot use the data directory {self.path}: {exc.strerror or exc}; give "
                "MEMQL_DATA_DIR (or --data-dir) a directory memql may write, or run with "
                "--in-memory"
            ) from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise DataDirInUse(
                f"the data directory {self.path} is in use by {holder}: stop that process, or "
                "give this one another directory (--data-dir or MEMQL_DATA_DIR)"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(describe_this_process(purpose))
        lock.flush()
        self._lock = lock

    def unlock(self) -> None:
        if self._lock is None:
            return
        lock, self._lock = self._lock, None
        lock.seek(0)
        lock.truncate()
        lock.close()

    def check_writable(self) -> None:
        """Raise DataDirError unless memql may make and write the directory."""
        existing = self.path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            what = "is not a directory" if not existing.is_dir() else "may not be written by memql"
            raise DataDirError(
                f"cannot use the data directory {self.path}: {existing} {what}; give "
                "MEMQL_DATA_DIR (or --data-dir) a directory memql may write, or run with "
                "--in-memory"
            )

    def check_free(self) -> None:
        """Raise DataDirInUse when another process holds the lock (taken only for the check);
        a directory that does not exist yet is free."""
        if self._lock is None and self.lock_file.exists():
            self.lock()
            self.unlock()

    def remove_partial_writes(self) -> list[Path]:
        """Delete the temporary files a snapshot write that never finished left behind (a crash
        mid-write); the snapshot before it is whole. Returns what was deleted."""
        partial = sorted(self.path.glob("*.tmp"))
        for path in partial:
            path.unlink(missing_ok=True)
        return partial


def describe_this_process(purpose: str) -> str:
    """How a second process names the holder of the lock: `memql serve (pid 4242 on host,
    since 2026-11-25T10:00:00Z)`."""
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{purpose} (pid {os.getpid()} on {socket.gethostname()}, since {since})"


def sync_directory(path: Path) -> None:
    """Make a rename in `path` durable: fsync the directory itself (POSIX)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
