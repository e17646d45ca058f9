"""The embedded store's documents are frozen out of the garbage collector's full collections
(app.persistence.collection_pauses): after a restore, and as the store grows by a quarter."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.persistence.collection_pauses import Freezer


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


async def test_the_store_is_frozen_again_once_it_grew_by_a_quarter(unfrozen: None) -> None:
    stored = 40_000
    freezer = Freezer(lambda: stored)
    gc.unfreeze()
    stored = 49_999
    assert not await freezer.check()
    assert gc.get_freeze_count() == 0
    stored = 50_000
    assert await freezer.check()
    assert gc.get_freeze_count() > 0
    assert freezer.frozen_at == 50_000
    stored = 60_000
    assert not await freezer.check()


async def test_a_small_store_waits_for_some_thousands_more_documents(unfrozen: None) -> None:
    stored = 100
    freezer = Freezer(lambda: stored)
    stored = 4_000  # 40 times as many, but fewer than AT_LEAST more
    assert not await freezer.check()
    stored = 5_100
    assert await freezer.check()
