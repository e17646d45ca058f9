"""A background task that does one piece of work every few seconds until it is stopped: the
embedded store's purge sweeper and its snapshots."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from app.startup import Readiness, describe_failure


class Periodic:
    """Calls `work` every `interval` seconds from `start()` until `stop()`, which lets a call in
    progress finish. A call that raises is reported by `failed` (from inside the `except`, so
    `logger.exception` logs its traceback), and to `readiness` until a call succeeds, when
    given; the next call comes on time."""

    def __init__(
        self,
        work: Callable[[], Awaitable[object]],
        *,
        interval: float,
        name: str,
        failed: Callable[[], None],
        readiness: Readiness | None = None,
    ) -> None:
        self.work = work
        self.interval = interval
        self.name = name
        self.failed = failed
        self.readiness = readiness
        self.task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        if self.task is not None:
            raise RuntimeError(f"{self.name} is already running")
        self._stopping.clear()
        self.task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self.task is None:
            return
        self._stopping.set()
        task, self.task = self.task, None
        await task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
            if self._stopping.is_set():
                return
            try:
                await self.work()
            except Exception as exc:
                self.failed()
                if self.readiness is not None:
                    self.readiness.failed(self.name, describe_failure(exc, "the database"))
            else:
                if self.readiness is not None:
                    self.readiness.recovered(self.name)
