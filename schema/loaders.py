"""Per-request DataLoaders: to-one lookups batched into one `$in` query per nesting level."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import TypeVar

from bson import ObjectId
from strawberry.dataloader import DataLoader

from app.documents import MemoryDoc, SessionDoc, UserDoc
from app.store import Store

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def keyed_loader(
    fetch: Callable[[list[K]], Awaitable[Iterable[V]]], key_of: Callable[[V], K]
) -> DataLoader[K, V | None]:
    async def load(keys: list[K]) -> list[V | None]:
        found = {key_of(value): value for value in await fetch(keys)}
        return [found.get(key) for key in keys]

    return DataLoader(load_fn=load)


class Loaders:
    def __init__(self, store: Store) -> None:
        self.user_by_user_id: DataLoader[str, UserDoc | None] = keyed_loader(
            store.users.get_many, lambda doc: doc.user_id
        )
        self.user_by_id: DataLoader[ObjectId, UserDoc | None] = keyed_loader(
            store.users.get_many_by_ids, lambda doc: doc.id
        )
        self.session_by_session_id: DataLoader[str, SessionDoc | None] = keyed_loader(
            store.sessions.get_many, lambda doc: doc.session_id
        )
        self.session_by_id: DataLoader[ObjectId, SessionDoc | None] = keyed_loader(
            store.sessions.get_many_by_ids, lambda doc: doc.id
        )
        self.memory_by_uuid: DataLoader[str, MemoryDoc | None] = keyed_loader(
            store.memories.get_many, lambda doc: doc.uuid
        )
