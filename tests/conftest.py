"""Shared fixtures: a running app on the embedded store (or on MongoDB when
MEMQL_TEST_MONGODB_URL is set) and a GraphQL client over httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import Phase
from hypothesis import settings as hypothesis_settings
from starlette.applications import Starlette

from app.auth import OPEN, issue_token
from app.settings import Settings
from app.store import Store, ViewerStore
from app.web.http import create_app

TEST_MONGODB_URL = os.environ.get("MEMQL_TEST_MONGODB_URL") or None
ON_MONGODB = TEST_MONGODB_URL is not None

requires_mongodb = pytest.mark.skipif(
    not ON_MONGODB,
    reason="needs MongoDB: set MEMQL_TEST_MONGODB_URL (`python -m tests.wire_server` starts one)",
)

SKIP_SLOW = pytest.mark.skip(
    reason="slow: runs under CI=true (as .ci/run sets) or with `python -m pytest --slow`"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow", action="store_true", help="also run the tests marked slow (CI=true does too)"
    )


def pytest_configure(config: pytest.Config) -> None:
    """Memory only, for every app and `memql` process the tests start (they inherit this
    environment), unless a test gives a data directory of its own."""
    os.environ["MEMQL_DATA_DIR"] = ""
    if ON_MONGODB:
        # Over the wire each example costs tens of round trips: a failure found is reported
        # as found rather than shrunk for minutes.
        hypothesis_settings.register_profile(
            "wire", phases=[Phase.explicit, Phase.reuse, Phase.generate]
        )
        hypothesis_settings.load_profile("wire")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked slow keep a local run short; CI runs them all."""
    if config.getoption("--slow") or os.environ.get("CI") == "true":
        return
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(SKIP_SLOW)


def make_settings(**overrides: Any) -> Settings:
    """Settings for one test: its own database, never the developer's environment."""
    values: dict[str, Any] = {
        "mongodb_url": TEST_MONGODB_URL,
        "database": f"memql_test_{uuid.uuid4().hex[:12]}",
        "data_dir": None,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


class GraphQLClient:
    """Posts GraphQL documents and unpacks the answers."""

    def __init__(
        self, http: httpx.AsyncClient, app: Starlette, headers: dict[str, str] | None = None
    ) -> None:
        self.http = http
        self.app = app
        self.headers = headers or {}

    def with_token(self, token: str) -> GraphQLClient:
        """The same app, called with `Authorization: Bearer <token>`."""
        return GraphQLClient(self.http, self.app, {"authorization": f"Bearer {token}"})

    @property
    def store(self) -> ViewerStore:
        """The app's store as an admin uses it, to arrange or inspect data around the API."""
        store: Store = self.app.state.store
        return store.for_viewer(OPEN)

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
            **kwargs,
        )
        body: dict[str, Any] = response.json()
        assert "Traceback" not in response.text
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a request that must succeed."""
        body = await self.post(query, variables)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result

    async def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The single error of a request that must fail."""
        body = await self.post(query, variables)
        assert body.get("errors"), body
        assert len(body["errors"]) == 1, body["errors"]
        error: dict[str, Any] = body["errors"][0]
        return error

    async def code(self, query: str, variables: dict[str, Any] | None = None) -> str:
        error = await self.error(query, variables)
        code: str = error["extensions"]["code"]
        return code


@asynccontextmanager
async def running_app(
    settings: Settings | None = None, *, keep_database: bool = False
) -> AsyncIterator[GraphQLClient]:
    """The app of `settings` (a database of its own), dropped after on MongoDB unless
    `keep_database`."""
    settings = settings or make_settings()
    app = create_app(settings, count_calls=True)
    async with app.router.lifespan_context(app):
        await until_ready(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            try:
                yield GraphQLClient(http, app)
            finally:
                # Not on the embedded store: it writes its last snapshot after this.
                db = app.state.store.db
                if not db.embedded and not keep_database:
                    await db.client.drop_database(settings.database)


async def until_ready(app: Starlette) -> None:
    """Wait for start-up to finish in the background (MongoDB's index builds)."""
    readiness = app.state.readiness
    async with asyncio.timeout(60):
        await readiness.settled.wait()
    assert readiness.blocker is None, readiness.blocker


SECRET = "test-secret-of-at-least-thirty-two-bytes!"


def token_for(user_id: str | None = None, *, ttl: timedelta = timedelta(minutes=5)) -> str:
    """A token signed with SECRET: for `user_id`, or an admin token without one."""
    return issue_token(SECRET, ttl=ttl, user_id=user_id, admin=user_id is None)


class ForbiddenDatabase:
    """Replaces every collection method with one that records the call and fails it."""

    METHODS = (
        "find",
        "find_one",
        "find_one_and_update",
        "update_one",
        "update_many",
        "insert_many",
        "insert_one",
        "delete_many",
        "count_documents",
        "aggregate",
    )

    def __init__(self, api: GraphQLClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        for name in ("users", "sessions", "memories"):
            collection = getattr(api.store.db, name)
            for method in self.METHODS:
                monkeypatch.setattr(collection, method, self._refuse(f"{name}.{method}"))

    def _refuse(self, label: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(label)
            raise AssertionError(f"unexpected database call {label}")

        return refuse


@pytest.fixture
async def api() -> AsyncIterator[GraphQLClient]:
    async with running_app() as client:
        yield client


# Small helpers for the data most tests need.

ADD_USER = """
mutation($input: AddUserInput!) { addUser(input: $input) { user { id userId metadata } } }
"""
ADD_SESSION = """
mutation($input: AddSessionInput!) {
  addSession(input: $input) { session { id sessionId userId metadata } }
}
"""
ADD_MEMORY = """
mutation($input: AddMemoryInput!) {
  addMemory(input: $input) {
    session { id sessionId }
    memories { id uuid role roleType content metadata }
  }
}
"""


async def add_user(api: GraphQLClient, user_id: str, **fields: Any) -> dict[str, Any]:
    data = await api.data(ADD_USER, {"input": {"userId": user_id, **fields}})
    user: dict[str, Any] = data["addUser"]["user"]
    return user


async def add_session(api: GraphQLClient, session_id: str, **fields: Any) -> dict[str, Any]:
    data = await api.data(ADD_SESSION, {"input": {"sessionId": session_id, **fields}})
    session: dict[str, Any] = data["addSession"]["session"]
    return session


async def add_memories(
    api: GraphQLClient, session_id: str, contents: list[str], role: str = "human"
) -> list[dict[str, Any]]:
    memories = [{"role": role, "content": content} for content in contents]
    data = await api.data(ADD_MEMORY, {"input": {"sessionId": session_id, "memories": memories}})
    added: list[dict[str, Any]] = data["addMemory"]["memories"]
    return added


async def memory_contents(api: GraphQLClient, session_id: str, **page: Any) -> list[str]:
    arguments = ", ".join(f"{name}: {value}" for name, value in page.items()) or "first: 100"
    data = await api.data(
        f'{{ session(sessionId: "{session_id}") {{ memories({arguments}) '
        "{ edges { node { content } } } } }"
    )
    return [edge["node"]["content"] for edge in data["session"]["memories"]["edges"]]


async def raw_documents(api: GraphQLClient, collection: str, **match: Any) -> list[dict[str, Any]]:
    """Documents as stored, read around the API to check what really is in the database."""
    cursor = api.store.db.collection(collection).find(match)
    documents: list[dict[str, Any]] = await cursor.to_list(None)
    return documents


# Two users' data, for the tests of what each token may do.


@dataclass
class World:
    """Users alice and bob with two sessions each of their own (a1, a2; b1) and one of no user
    (free), each with a memory; clients for an admin and for each user's token."""

    admin: GraphQLClient
    alice: GraphQLClient
    bob: GraphQLClient
    ids: dict[str, str]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with running_app(make_settings(auth_secret=SECRET)) as anonymous:
        admin = anonymous.with_token(token_for())
        ids: dict[str, str] = {}
        for user in ("alice", "bob"):
            data = await admin.data(
                "mutation($u: String!) { addUser(input: {userId: $u}) { user { id } } }",
                {"u": user},
            )
            ids[user] = data["addUser"]["user"]["id"]
        for session, holder in (("a1", "alice"), ("a2", "alice"), ("b1", "bob"), ("free", None)):
            data = await admin.data(
                "mutation($s: String!, $u: String) {"
                " addSession(input: {sessionId: $s, userId: $u}) { session { id } } }",
                {"s": session, "u": holder},
            )
            ids[session] = data["addSession"]["session"]["id"]
            added = await admin.data(
                ADD_MEMORY,
                {"input": {"sessionId": session, "memories": [{"role": "h", "content": session}]}},
            )
            ids[f"{session}:memory"] = added["addMemory"]["memories"][0]["id"]
            ids[f"{session}:uuid"] = added["addMemory"]["memories"][0]["uuid"]
        yield World(
            admin,
            anonymous.with_token(token_for("alice")),
            anonymous.with_token(token_for("bob")),
            ids,
        )


async def snapshot(api: GraphQLClient) -> dict[str, list[dict[str, Any]]]:
    return {name: await raw_documents(api, name) for name in ("users", "sessions", "memories")}
