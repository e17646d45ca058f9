"""Shared fixtures and pytest hooks: a running app on the embedded store (or on MongoDB when
MEMQL_TEST_MONGODB_URL is set) and a GraphQL client over httpx's ASGI transport. The helpers
they are made of are in tests/support/."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from hypothesis import Phase
from hypothesis import settings as hypothesis_settings

from tests.support.client import SECRET, GraphQLClient, running_app, token_for
from tests.support.data import ADD_MEMORY, World
from tests.support.stores import ON_MONGODB, make_settings

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


@pytest.fixture
async def api() -> AsyncIterator[GraphQLClient]:
    async with running_app() as client:
        yield client


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
