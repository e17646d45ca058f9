"""Per-request DataLoaders: to-one lookups batched into one `$in` query per nesting level, and
nested connections (users' sessions, sessions' memories) paged for a whole level at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

from bson import ObjectId
from strawberry.dataloader import DataLoader

from app.documents import MemoryDoc, SessionDoc, UserDoc
from app.store import ViewerStore
from app.store.child_lists import ChildLists
from app.store.keyset import Page, PageRequest
from app.store.session_filter import SessionFilter
from schema.pagination import MEMORIES, SESSIONS, Connection, Paging

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
P = TypeVar("P", bound=Hashable)
G = TypeVar("G", bound=Hashable)
T = TypeVar("T")
N = TypeVar("N")


def keyed_loader(
    fetch: Callable[[list[K]], Awaitable[Iterable[V]]], key_of: Callable[[V], K]
) -> DataLoader[K, V | None]:
    async def load(keys: list[K]) -> list[V | None]:
        found = {key_of(value): value for value in await fetch(keys)}
        return [found.get(key) for key in keys]

    return DataLoader(load_fn=load)


def grouped_loader(
    fetch: Callable[[list[P], G], Awaitable[Mapping[P, V]]],
) -> DataLoader[tuple[P, G], V]:
    """Loads `(parent, group)` keys with one fetch of all parents per group, the groups (the
    same connection asked with different arguments, through aliases) fetched together.

    Not cached: a mutation document may read a connection, change it in a later mutation field
    and read it again, and must see the change.
    """

    async def load(keys: list[tuple[P, G]]) -> list[V]:
        parents: dict[G, list[P]] = {}
        for parent, group in keys:
            parents.setdefault(group, []).append(parent)
        groups = list(parents)
        answers = await asyncio.gather(*(fetch(parents[group], group) for group in groups))
        found = dict(zip(groups, answers, strict=True))
        return [found[group][parent] for parent, group in keys]

    return DataLoader(load_fn=load, cache=False)


class ChildLoaders(Generic[P, T]):
    """The loaders of one kind of nested connection: pages, the flag on the far side of the
    start cursor, and counts, each one query per nesting level."""

    def __init__(self, paging: Paging, lists: ChildLists[P, T]) -> None:
        self.paging = paging

        async def flags(parents: list[P], request: PageRequest) -> dict[P, bool]:
            behind = await lists.any_behind(parents, request)
            return {parent: parent in behind for parent in parents}

        async def counts(parents: list[P], _: None) -> dict[P, int]:
            return await lists.counts(parents)

        self.pages: DataLoader[tuple[P, PageRequest], Page[T]] = grouped_loader(lists.pages)
        self.behind: DataLoader[tuple[P, PageRequest], bool] = grouped_loader(flags)
        self.counts: DataLoader[tuple[P, None], int] = grouped_loader(counts)

    async def connection(
        self, parent: P, request: PageRequest, to_node: Callable[[T], N]
    ) -> Connection[N]:
        page = await self.pages.load((parent, request))

        async def behind() -> bool:
            return await self.behind.load((parent, request))

        async def count() -> int:
            return await self.counts.load((parent, None))

        return self.paging.connection(page, request, to_node, behind=behind, counter=count)


class Loaders:
    def __init__(self, store: ViewerStore) -> None:
        self.store = store
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
        self._sessions_of_user: dict[SessionFilter, ChildLoaders[str, SessionDoc]] = {}
        self.memories_of_session: ChildLoaders[str, MemoryDoc] = ChildLoaders(
            MEMORIES, store.memories.of_sessions()
        )

    def sessions_of_user(self, where: SessionFilter) -> ChildLoaders[str, SessionDoc]:
        """The loaders of users' sessions that `where` keeps: one set per filter, so the
        filter is part of every batch's key and differently filtered selections of one level
        (aliases) never share an answer, while each is still one query for all its users."""
        loaders = self._sessions_of_user.get(where)
        if loaders is None:
            loaders = ChildLoaders(SESSIONS, self.store.sessions.of_users(where))
            self._sessions_of_user[where] = loaders
        return loaders
