"""Fixtures for the client's tests: the real memql app, reached in-process by AsyncMemqlClient
over httpx's ASGI transport and by MemqlClient over HTTP from uvicorn in a background thread."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from app.auth import OPEN
from app.settings import Settings
from app.store import Store
from app.web.http import create_app
from bson import ObjectId
from starlette.applications import Starlette

from memql_client import AsyncMemqlClient, MemqlClient

T = TypeVar("T")

TEST_MONGODB_URL = os.environ.get("MEMQL_TEST_MONGODB_URL") or None
SERVER_START_SECONDS = 10.0


AUTH_SECRET = "client-tests-secret-at-least-32-bytes!"


def client_test_settings(**overrides: Any) -> Settings:
    """Each test gets its own database, on MongoDB when MEMQL_TEST_MONGODB_URL is set."""
    values: dict[str, Any] = {
        "mongodb_url": TEST_MONGODB_URL,
        "database": f"memql_client_test_{uuid.uuid4().hex[:12]}",
        "_env_file": None,
        **overrides,
    }
    return Settings(**values)


async def drop_test_database(app: Starlette) -> None:
    if TEST_MONGODB_URL is not None:
        store: Store = app.state.store
        await store.db.client.drop_database(store.db.db.name)


@asynccontextmanager
async def app_running(**settings: Any) -> AsyncIterator[Starlette]:
    app = create_app(client_test_settings(**settings))
    async with app.router.lifespan_context(app):
        try:
            yield app
        finally:
            await drop_test_database(app)


@dataclass
class AsyncHarness:
    client: AsyncMemqlClient
    store: Store


@pytest.fixture
async def harness() -> AsyncIterator[AsyncHarness]:
    async with app_running() as app:
        transport = httpx.ASGITransport(app=app)
        async with AsyncMemqlClient("http://localhost/graphql", transport=transport) as client:
            yield AsyncHarness(client, app.state.store)


@pytest.fixture
def client(harness: AsyncHarness) -> AsyncMemqlClient:
    return harness.client


class ThreadedServer:
    """memql served by uvicorn on 127.0.0.1 (a free port) from a thread with its own loop."""

    def __init__(self, **settings: Any) -> None:
        self.app = create_app(client_test_settings(**settings))
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self.server.serve(),), daemon=True
        )

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/graphql"

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop, where its database client lives."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    @property
    def store(self) -> Store:
        store: Store = self.app.state.store
        return store

    def stop(self) -> None:
        if self.server.started:
            self.call(drop_test_database(self.app))
        self.server.should_exit = True
        self.thread.join(timeout=SERVER_START_SECONDS)
        self.loop.close()


@dataclass
class SyncHarness:
    client: MemqlClient
    server: ThreadedServer


@pytest.fixture
def sync_harness() -> Iterator[SyncHarness]:
    server = ThreadedServer()
    try:
        url = server.start()
        with MemqlClient(url) as client:
            yield SyncHarness(client, server)
    finally:
        server.stop()


@pytest.fixture
def sync_client(sync_harness: SyncHarness) -> MemqlClient:
    return sync_harness.client


async def seed_sessions(store: Store, count: int) -> list[str]:
    """`count` sessions, one millisecond apart, oldest first: the first added by the store, the
    others copies of the document it stored, inserted at once (on the embedded store every
    add scans the collection, which makes a thousand adds take seconds)."""
    session_ids = [f"seeded-{index:05d}" for index in range(count)]
    await store.for_viewer(OPEN).sessions.add(session_ids[0])
    stored = await store.db.sessions.find_one({"sessionId": session_ids[0]})
    assert stored is not None
    copies = [
        {
            **stored,
            "_id": ObjectId(),
            "sessionId": session_id,
            "createdAt": stored["createdAt"] + index * timedelta(milliseconds=1),
            "updatedAt": stored["createdAt"] + index * timedelta(milliseconds=1),
        }
        for index, session_id in enumerate(session_ids[1:], start=1)
    ]
    await store.db.sessions.insert_many(copies)
    return session_ids
