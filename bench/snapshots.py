"""The embedded store's snapshots at benchmark sizes: what one costs (on the event loop, in
threads, how long writes wait, how long the loop stalls, the file's size) and how long
restoring it takes at start-up. In this process, on a data directory of a temporary folder."""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from app.db import Database
from app.persistence.snapshots import SnapshotCost, Snapshots
from app.settings import Settings
from app.store import Store
from bench.seed import Sizes, seed

TICK_SECONDS = 0.001


@dataclass(frozen=True)
class SnapshotRow:
    memories: int
    cost: SnapshotCost
    longest_stall: float
    """The longest the event loop went without running a task that asked to run every 1 ms,
    while the snapshot was taken: what a request arriving meanwhile could wait (the threads
    hold Python's interpreter lock too, a few milliseconds at a time)."""
    restore_seconds: float


class StallMeter:
    """Runs a task that sleeps 1 ms at a time and notes the longest gap beyond that."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._running = True

    async def run(self) -> None:
        last = time.perf_counter()
        while self._running:
            await asyncio.sleep(TICK_SECONDS)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - TICK_SECONDS)
            last = now

    def stop(self) -> None:
        self._running = False


def settings_for(directory: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=directory,
        snapshot_interval_seconds=86_400,
        purge_interval_seconds=86_400,
        log_level="WARNING",
    )


async def measure(sizes: Sizes, directory: Path, *, runs: int = 3) -> SnapshotRow:
    """The median of `runs` snapshots of `sizes` (each forced, as if everything changed), and
    the time to restore the last one."""
    settings = settings_for(directory)
    db = Database.connect(settings)
    snapshots = await Snapshots.open(db, directory, interval=settings.snapshot_interval_seconds)
    costs, stalls = [], []
    try:
        await seed(Store(db), sizes)
        for _ in range(runs):
            meter = StallMeter()
            ticking = asyncio.create_task(meter.run())
            await asyncio.sleep(0.05)
            cost = await snapshots.take(force=True)
            meter.stop()
            await ticking
            assert cost is not None
            costs.append(cost)
            stalls.append(meter.longest)
    finally:
        snapshots.close()
        db.close()
    restored = Database.connect(settings)
    started = time.perf_counter()
    reopened = await Snapshots.open(
        restored, directory, interval=settings.snapshot_interval_seconds
    )
    restore_seconds = time.perf_counter() - started
    reopened.close()
    restored.close()
    return SnapshotRow(
        sizes.memories,
        SnapshotCost(
            loop_seconds=median(cost.loop_seconds for cost in costs),
            held_seconds=median(cost.held_seconds for cost in costs),
            encode_seconds=median(cost.encode_seconds for cost in costs),
            write_seconds=median(cost.write_seconds for cost in costs),
            documents=costs[0].documents,
            bytes=costs[0].bytes,
        ),
        median(stalls),
        restore_seconds,
    )


async def measure_sizes(base: Sizes, memories: tuple[int, ...]) -> list[SnapshotRow]:
    rows = []
    for count in memories:
        with tempfile.TemporaryDirectory(prefix="memql-bench-") as directory:
            sizes = Sizes(base.users, base.sessions, count)
            rows.append(await measure(sizes, Path(directory) / "data"))
    return rows
