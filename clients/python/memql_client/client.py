"""memql's Python clients: `AsyncMemqlClient` over httpx.AsyncClient and `MemqlClient` over
httpx.Client. Both are thin: every method sends an `Operation` of memql_client.operations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar

import httpx
from websockets.asyncio.client import connect as connect_async
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect as connect_sync

from memql_client import live
from memql_client import operations as ops
from memql_client.models import (
    JsonObject,
    Memory,
    MemoryInput,
    Node,
    Page,
    PurgeCounts,
    SearchResult,
    Session,
    SessionFilter,
    User,
)
from memql_client.operations import Operation, Walk

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000/graphql"
DEFAULT_TIMEOUT = 30.0
# What a dropped or refused connection raises before it is opened again.
CONNECTION_FAILURES = (ConnectionClosed, InvalidHandshake, OSError, TimeoutError)


@contextmanager
def tracked(sockets: set[Any], ws: Any) -> Iterator[None]:
    """`ws` in `sockets` while the block runs: a client closes what is still open."""
    sockets.add(ws)
    try:
        yield
    finally:
        sockets.discard(ws)


class AsyncMemqlClient:
    """An asyncio client for memql's GraphQL API at `url`.

    `token` is sent as `Authorization: Bearer <token>`. Pass `transport` to route requests
    (for example httpx.ASGITransport(app) in tests), or your own `http` client, which then
    stays yours to close. Failures raise the MemqlError subclass of their `extensions.code`.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if http is not None and transport is not None:
            raise ValueError("pass either http or transport, not both")
        self.url = url
        self.token = token
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient(transport=transport, timeout=timeout)
        self._subscriptions: set[Any] = set()
        self._closed = False

    async def aclose(self) -> None:
        """Close the HTTP client it made, and the WebSocket of every subscription still open
        (their iterators end), so no connection outlives the client."""
        self._closed = True
        for ws in list(self._subscriptions):
            await ws.close()
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncMemqlClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def run(self, operation: Operation[T]) -> T:
        response = await self.http.post(
            self.url, json=operation.body(), headers=ops.headers(self.token)
        )
        return operation.parse(ops.read_response(response))

    async def _walk(self, walk: Walk[T]) -> AsyncIterator[T]:
        cursor: str | None = None
        while True:
            page = await self.run(walk.page(cursor))
            for item in walk.nodes(page):
                yield item
            cursor = walk.next_cursor(page)
            if cursor is None:
                return

    async def execute(
        self, document: str, variables: Mapping[str, Any] | None = None
    ) -> JsonObject:
        """The `data` of any GraphQL document, such as a nested query."""
        return await self.run(ops.raw(document, variables))

    # queries

    async def get_node(self, id: str) -> Node | None:
        return await self.run(ops.node(id))

    async def get_nodes(self, ids: Sequence[str]) -> list[Node | None]:
        return await self.run(ops.nodes(ids))

    async def get_user(self, user_id: str) -> User | None:
        return await self.run(ops.user(user_id))

    async def list_users(
        self,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        total_count: bool = False,
    ) -> Page[User]:
        return await self.run(ops.users(first, after, last, before, total_count))

    def iter_users(self, page_size: int = 100) -> AsyncIterator[User]:
        return self._walk(ops.user_walk(page_size))

    async def get_session(self, session_id: str) -> Session | None:
        return await self.run(ops.session(session_id))

    async def list_sessions(
        self,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        user_id: str | None = None,
        total_count: bool = False,
        filter: SessionFilter | None = None,
    ) -> Page[Session]:
        return await self.run(
            ops.sessions(first, after, last, before, user_id, total_count, filter)
        )

    def iter_sessions(
        self,
        page_size: int = 100,
        user_id: str | None = None,
        filter: SessionFilter | None = None,
    ) -> AsyncIterator[Session]:
        """Every session (of `user_id`, kept by `filter`), oldest first, page by page."""
        return self._walk(ops.session_walk(page_size, user_id, filter))

    async def get_memories(
        self,
        session_id: str,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        total_count: bool = False,
    ) -> Page[Memory]:
        return await self.run(ops.memories(session_id, first, after, last, before, total_count))

    def iter_memories(
        self, session_id: str, page_size: int = 100, newest_first: bool = False
    ) -> AsyncIterator[Memory]:
        return self._walk(ops.memory_walk(session_id, page_size, newest_first))

    async def search_memories(
        self,
        text: str,
        session_id: str | None = None,
        user_id: str | None = None,
        *,
        first: int | None = None,
        after: str | None = None,
        total_count: bool = False,
    ) -> Page[SearchResult]:
        """The memories matching the words of `text` (case and accents ignored), best first:
        in one session, in one user's sessions, or in every session the token may see."""
        return await self.run(
            ops.search_memories(text, session_id, user_id, first, after, total_count)
        )

    def iter_search_memories(
        self,
        text: str,
        session_id: str | None = None,
        user_id: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[SearchResult]:
        """Every memory matching `text`, best first, page after page."""
        return self._walk(ops.search_walk(text, session_id, user_id, page_size))

    # mutations

    async def add_user(
        self,
        user_id: str,
        *,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> User:
        return await self.run(ops.add_user(user_id, email, first_name, last_name, metadata))

    async def update_user(
        self,
        user_id: str,
        *,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> User:
        return await self.run(ops.update_user(user_id, email, first_name, last_name, metadata))

    async def delete_user(self, user_id: str) -> str:
        return await self.run(ops.delete_user(user_id))

    async def add_session(
        self,
        session_id: str,
        *,
        user_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Session:
        return await self.run(ops.add_session(session_id, user_id, metadata))

    async def update_session(
        self,
        session_id: str,
        *,
        user_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Session:
        return await self.run(ops.update_session(session_id, user_id, metadata))

    async def delete_session(self, session_id: str) -> str:
        return await self.run(ops.delete_session(session_id))

    async def add_memory(self, session_id: str, memories: Sequence[MemoryInput]) -> list[Memory]:
        return await self.run(ops.add_memory(session_id, memories))

    async def update_memory(self, id: str, metadata: Mapping[str, Any]) -> Memory:
        return await self.run(ops.update_memory(id, metadata))

    async def delete_memories(self, session_id: str) -> int:
        return await self.run(ops.delete_memories(session_id))

    async def purge_deleted(self) -> PurgeCounts:
        return await self.run(ops.purge_deleted())

    # live updates

    async def subscribe_memories(
        self, session_id: str, after: str | None = None
    ) -> AsyncIterator[Memory]:
        """Every memory added to the session from now on (with `after`, a memories cursor:
        every memory after it first), in order, over a WebSocket to the same URL; it ends when
        the session is deleted. A dropped connection is opened again and the subscription
        resumed after the last memory handed out, so none is missed or repeated."""
        feed = live.MemoryFeed(session_id, after, self.token)
        if after is None:
            feed.cursor = (await self.get_memories(session_id, last=1)).page_info.end_cursor
        failures = 0
        while not self._closed:
            try:
                async with connect_async(
                    live.ws_url(self.url), subprotocols=[live.SUBPROTOCOL], open_timeout=30
                ) as ws:
                    with tracked(self._subscriptions, ws):
                        await ws.send(feed.connection_init())
                        feed.acknowledged(await ws.recv())
                        failures = 0
                        if feed.cursor is None:
                            # Nothing handed out yet, from a session that had no memory: all
                            # it holds now was added since.
                            async for edge in self._walk(ops.memory_edge_walk(session_id)):
                                feed.cursor = edge.cursor
                                yield edge.node
                        await ws.send(feed.subscribe())
                        async for text in ws:
                            step = feed.read(text)
                            if isinstance(step, Memory):
                                yield step
                            elif step is live.Step.DONE:
                                return
                            elif step is not live.Step.NOTHING:
                                await ws.send(feed.answer(step))
                        if self._closed:
                            return
                        feed.closed(ws.close_code, ws.close_reason)
            except CONNECTION_FAILURES as failure:
                if self._closed:
                    return
                failures = live.failed(failures, failure)
            await asyncio.sleep(live.reconnect_delay(failures))


class MemqlClient:
    """A blocking client for memql's GraphQL API at `url`, with the methods of
    AsyncMemqlClient; `http` is an httpx.Client and `transport` an httpx.BaseTransport."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        if http is not None and transport is not None:
            raise ValueError("pass either http or transport, not both")
        self.url = url
        self.token = token
        self._owns_http = http is None
        self.http = http or httpx.Client(transport=transport, timeout=timeout)
        self._subscriptions: set[Any] = set()
        self._closed = False

    def close(self) -> None:
        """Close the HTTP client it made, and the WebSocket of every subscription still open
        (their iterators end), so no connection outlives the client."""
        self._closed = True
        for ws in list(self._subscriptions):
            ws.close()
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> MemqlClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def run(self, operation: Operation[T]) -> T:
        response = self.http.post(self.url, json=operation.body(), headers=ops.headers(self.token))
        return operation.parse(ops.read_response(response))

    def _walk(self, walk: Walk[T]) -> Iterator[T]:
        cursor: str | None = None
        while True:
            page = self.run(walk.page(cursor))
            yield from walk.nodes(page)
            cursor = walk.next_cursor(page)
            if cursor is None:
                return

    def execute(self, document: str, variables: Mapping[str, Any] | None = None) -> JsonObject:
        """The `data` of any GraphQL document, such as a nested query."""
        return self.run(ops.raw(document, variables))

    # queries

    def get_node(self, id: str) -> Node | None:
        return self.run(ops.node(id))

    def get_nodes(self, ids: Sequence[str]) -> list[Node | None]:
        return self.run(ops.nodes(ids))

    def get_user(self, user_id: str) -> User | None:
        return self.run(ops.user(user_id))

    def list_users(
        self,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        total_count: bool = False,
    ) -> Page[User]:
        return self.run(ops.users(first, after, last, before, total_count))

    def iter_users(self, page_size: int = 100) -> Iterator[User]:
        return self._walk(ops.user_walk(page_size))

    def get_session(self, session_id: str) -> Session | None:
        return self.run(ops.session(session_id))

    def list_sessions(
        self,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        user_id: str | None = None,
        total_count: bool = False,
        filter: SessionFilter | None = None,
    ) -> Page[Session]:
        return self.run(ops.sessions(first, after, last, before, user_id, total_count, filter))

    def iter_sessions(
        self,
        page_size: int = 100,
        user_id: str | None = None,
        filter: SessionFilter | None = None,
    ) -> Iterator[Session]:
        """Every session (of `user_id`, kept by `filter`), oldest first, page by page."""
        return self._walk(ops.session_walk(page_size, user_id, filter))

    def get_memories(
        self,
        session_id: str,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        total_count: bool = False,
    ) -> Page[Memory]:
        return self.run(ops.memories(session_id, first, after, last, before, total_count))

    def iter_memories(
        self, session_id: str, page_size: int = 100, newest_first: bool = False
    ) -> Iterator[Memory]:
        return self._walk(ops.memory_walk(session_id, page_size, newest_first))

    def search_memories(
        self,
        text: str,
        session_id: str | None = None,
        user_id: str | None = None,
        *,
        first: int | None = None,
        after: str | None = None,
        total_count: bool = False,
    ) -> Page[SearchResult]:
        """The memories matching the words of `text` (case and accents ignored), best first:
        in one session, in one user's sessions, or in every session the token may see."""
        return self.run(ops.search_memories(text, session_id, user_id, first, after, total_count))

    def iter_search_memories(
        self,
        text: str,
        session_id: str | None = None,
        user_id: str | None = None,
        page_size: int = 100,
    ) -> Iterator[SearchResult]:
        """Every memory matching `text`, best first, page after page."""
        return self._walk(ops.search_walk(text, session_id, user_id, page_size))

    # mutations

    def add_user(
        self,
        user_id: str,
        *,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> User:
        return self.run(ops.add_user(user_id, email, first_name, last_name, metadata))

    def update_user(
        self,
        user_id: str,
        *,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> User:
        return self.run(ops.update_user(user_id, email, first_name, last_name, metadata))

    def delete_user(self, user_id: str) -> str:
        return self.run(ops.delete_user(user_id))

    def add_session(
        self,
        session_id: str,
        *,
        user_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Session:
        return self.run(ops.add_session(session_id, user_id, metadata))

    def update_session(
        self,
        session_id: str,
        *,
        user_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Session:
        return self.run(ops.update_session(session_id, user_id, metadata))

    def delete_session(self, session_id: str) -> str:
        return self.run(ops.delete_session(session_id))

    def add_memory(self, session_id: str, memories: Sequence[MemoryInput]) -> list[Memory]:
        return self.run(ops.add_memory(session_id, memories))

    def update_memory(self, id: str, metadata: Mapping[str, Any]) -> Memory:
        return self.run(ops.update_memory(id, metadata))

    def delete_memories(self, session_id: str) -> int:
        return self.run(ops.delete_memories(session_id))

    def purge_deleted(self) -> PurgeCounts:
        return self.run(ops.purge_deleted())

    # live updates

    def subscribe_memories(self, session_id: str, after: str | None = None) -> Iterator[Memory]:
        """Every memory added to the session from now on (with `after`, a memories cursor:
        every memory after it first), in order, over a WebSocket to the same URL; it ends when
        the session is deleted. A dropped connection is opened again and the subscription
        resumed after the last memory handed out, so none is missed or repeated."""
        feed = live.MemoryFeed(session_id, after, self.token)
        if after is None:
            feed.cursor = self.get_memories(session_id, last=1).page_info.end_cursor
        failures = 0
        while not self._closed:
            try:
                with (
                    connect_sync(
                        live.ws_url(self.url), subprotocols=[live.SUBPROTOCOL], open_timeout=30
                    ) as ws,
                    tracked(self._subscriptions, ws),
                ):
                    ws.send(feed.connection_init())
                    feed.acknowledged(ws.recv())
                    failures = 0
                    if feed.cursor is None:
                        # Nothing handed out yet, from a session that had no memory: all
                        # it holds now was added since.
                        for edge in self._walk(ops.memory_edge_walk(session_id)):
                            feed.cursor = edge.cursor
                            yield edge.node
                    ws.send(feed.subscribe())
                    for text in ws:
                        step = feed.read(text)
                        if isinstance(step, Memory):
                            yield step
                        elif step is live.Step.DONE:
                            return
                        elif step is not live.Step.NOTHING:
                            ws.send(feed.answer(step))
                    if self._closed:
                        return
                    feed.closed(ws.close_code, ws.close_reason)
            except CONNECTION_FAILURES as failure:
                if self._closed:
                    return
                failures = live.failed(failures, failure)
            time.sleep(live.reconnect_delay(failures))
