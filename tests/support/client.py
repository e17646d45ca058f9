"""An app running in the test's own event loop, and a GraphQL client for it over httpx's ASGI
transport; tokens for its users."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.auth import OPEN, issue_token
from app.settings import Settings
from app.store import Store, ViewerStore
from app.web.http import create_app
from tests.support.stores import make_settings


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
