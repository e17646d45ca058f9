"""Fixtures for the client's tests: the real memql app, reached in-process by AsyncMemqlClient
over httpx's ASGI transport and by MemqlClient over HTTP from uvicorn in a background thread
(app.web.live_server, the harness the server's own tests and the benchmark use too)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from app.auth import OPEN, issue_token
from app.settings import Settings
from app.store import Store
from app.web.http import create_app
from app.web.live_server import ServerThread
from bson import ObjectId
from starlette.applications import Starlette

from memql_client import AsyncMemqlClient, MemqlClient

TEST_MONGODB_URL = os.environ.get("MEMQL_TEST_MONGODB_URL") or None


AUTH_SECRET = "client-tests-secret-at-least-32-bytes!"


def token(user_id: str | None = None) -> str:
    """A token signed with AUTH_SECRET: a user's, or an admin's without `user_id`."""
    return issue_token(
        AUTH_SECRET, ttl=timedelta(minutes=5), user_id=user_id, admin=user_id is None
    )


def client_test_settings(**overrides: Any) -> Settings:
    """Each test gets its own database, on MongoDB when MEMQL_TEST_MONGODB_URL is set."""
    values: dict[str, Any] = {
        "mongodb_url": TEST_MONGODB_URL,
        "database": f"memql_client_test_{uuid.uuid4().hex[:12]}",
        "data_dir": None,  # memory only
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


@contextmanager
def serving(app: Starlette) -> Iterator[ServerThread]:
    """The app served over HTTP by uvicorn from a thread; its test database dropped after."""
    with ServerThread(app) as server:
        try:
            yield server
        finally:
            server.call(drop_test_database(app))


@dataclass
class SyncHarness:
    client: MemqlClient
    server: ServerThread
    store: Store


@pytest.fixture
def sync_harness() -> Iterator[SyncHarness]:
    app = create_app(client_test_settings())
    with serving(app) as server, MemqlClient(f"{server.url}/graphql") as client:
        yield SyncHarness(client, server, app.state.store)


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
