"""Keeps the embedded store's documents out of the garbage collector's full collections.

A full (generation 2) collection walks every object the collector tracks, and the embedded
store's documents are most of them: measured in the benchmark's soak, full collections ran about
once a second (requests leave cyclic garbage behind) and each stalled the event loop for 12 ms
at 8,000 memories and 200 ms at 38,000, so the p99 of every request grew with the store. Stored
documents hold no reference cycles (a deleted one is freed by its reference count) and live as
long as the store, so they need no walking: `gc.freeze()` moves every object alive into a
generation the collector never walks.

Freezing also keeps whatever else is alive at that moment (a request in progress) from ever
being collected, should it end up in a cycle; so it happens when nothing is served yet (after a
restore at start-up) and then only when the store has grown by a quarter since the last time:
a few times over the store's life, each holding back at most what requests had in flight.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

from app.periodic import Periodic

logger = logging.getLogger("memql.embedded")

GROWTH = 1.25
"""Freeze again once the store holds this many times what it held at the last freeze."""
AT_LEAST = 5_000
"""...and at least this many documents more."""


def freeze_stored_data() -> None:
    """Collect what is garbage now, then freeze everything alive."""
    gc.collect()
    gc.freeze()


class Freezer:
    """Every `interval` seconds, freezes (`freeze_stored_data`) when `stored()` (the documents
    the store holds) has grown enough since the last freeze."""

    def __init__(self, stored: Callable[[], int], *, interval: float = 10.0) -> None:
        self.stored = stored
        self.frozen_at = stored()
        self.periodic = Periodic(
            self.check, interval=interval, name="memql-gc-freeze", failed=self._failed
        )

    async def check(self) -> bool:
        stored = self.stored()
        if stored < max(self.frozen_at * GROWTH, self.frozen_at + AT_LEAST):
            return False
        started = time.perf_counter()
        freeze_stored_data()
        logger.info(
            "%d documents stored (%d at the last freeze): frozen out of the garbage "
            "collector's full collections in %.0f ms",
            stored,
            self.frozen_at,
            (time.perf_counter() - started) * 1000,
        )
        self.frozen_at = stored
        return True

    def _failed(self) -> None:  # pragma: no cover - gc.collect and gc.freeze do not raise
        logger.exception("freezing the stored documents failed")
