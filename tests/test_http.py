"""The HTTP surface: health probes, request ids, JSON errors, no tracebacks."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

import app.startup as startup
from app.db import Database
from app.indexes import IndexReport
from app.settings import Settings
from app.store.change_feed import ChangeFeed
from app.web.http import create_app
from tests.support.client import GraphQLClient, running_app
from tests.support.stores import make_settings


async def test_healthz_and_readyz_answer_json(api: GraphQLClient) -> None:
    health = await api.http.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = await api.http.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_readyz_is_503_when_the_database_does_not_answer(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down() -> str:
        return "cannot reach MongoDB at db:27017: connection refused; is it running?"

    monkeypatch.setattr(api.store.db, "unreachable", down)
    ready = await api.http.get("/readyz")
    assert (ready.status_code, ready.json()) == (
        503,
        {"status": "unavailable", "reasons": [await down()]},
    )


async def test_every_response_carries_a_request_id(api: GraphQLClient) -> None:
    response = await api.http.get("/healthz")
    assert len(response.headers["x-request-id"]) == 32
    echoed = await api.http.get("/healthz", headers={"x-request-id": "trace-123"})
    assert echoed.headers["x-request-id"] == "trace-123"
    replaced = await api.http.get("/healthz", headers={"x-request-id": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"


async def test_query_over_get_works(api: GraphQLClient) -> None:
    response = await api.http.get(
        "/graphql",
        params={"query": "{ users { totalCount } }"},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"users": {"totalCount": 0}}}


async def test_parse_errors_are_bad_user_input(api: GraphQLClient) -> None:
    body = await api.post("{ users { ")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await api.post("{ users { noSuchField } }")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_variable_type_errors_are_bad_user_input(api: GraphQLClient) -> None:
    body = await api.post("query($n: Int) { users(first: $n) { totalCount } }", {"n": "many"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "data" not in body or body["data"] is None


async def test_unexpected_errors_are_masked_logged_and_carry_the_request_id(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(api.store.db.users, "count_documents", broken)
    caplog.set_level(logging.ERROR, logger="memql")
    response = await api.http.post(
        "/graphql",
        json={"query": "{ users { totalCount } }"},
        headers={"x-request-id": "req-42"},
    )
    body = response.json()
    error = body["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert any("req-42" in record.getMessage() and record.exc_info for record in caplog.records)


async def test_errors_outside_graphql_are_json_with_the_request_id(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> bool:
        raise RuntimeError("boom")

    monkeypatch.setattr(api.store.db, "unreachable", broken)
    response = await api.http.get("/readyz", headers={"x-request-id": "req-7"})
    assert response.status_code == 500
    assert response.json()["errors"][0]["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR",
        "requestId": "req-7",
    }
    assert "boom" not in response.text
    # Answered inside the middleware, so the response carries its id like any other.
    assert response.headers["x-request-id"] == "req-7"


async def test_an_unexpected_500_reaches_a_browser_with_cors_headers_and_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> bool:
        raise RuntimeError("boom")

    caplog.set_level(logging.INFO, logger="memql")
    async with running_app(make_settings(cors_origins=["https://chat.example"])) as api:
        monkeypatch.setattr(api.store.db, "unreachable", broken)
        response = await api.http.get(
            "/readyz", headers={"origin": "https://chat.example", "x-request-id": "req-8"}
        )
    assert response.status_code == 500
    assert response.headers["access-control-allow-origin"] == "https://chat.example"
    assert response.headers["x-request-id"] == "req-8"
    errors = [r for r in caplog.records if r.name == "memql.http" and "req-8" in r.getMessage()]
    assert errors and errors[0].exc_info is not None
    access = [r for r in caplog.records if r.name == "memql.access" and "req-8" in r.getMessage()]
    assert [getattr(record, "status", None) for record in access] == [500]


UNREACHABLE = "cannot reach MongoDB at 127.0.0.1:1: connection refused; is it running?"


async def test_start_up_goes_on_while_mongodb_is_down_and_readyz_says_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(startup, "FIRST_RETRY_SECONDS", 0.05)
    caplog.set_level(logging.INFO, logger="memql")
    settings = make_settings(mongodb_url="mongodb://127.0.0.1:1", mongodb_timeout_ms=100)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            assert (await http.get("/healthz")).status_code == 200
            for _ in range(100):
                attempts = [r for r in caplog.records if "MongoDB is not available" in r.message]
                if len(attempts) >= 2:
                    break
                await asyncio.sleep(0.05)
            ready = await http.get("/readyz")
    assert (ready.status_code, ready.json()) == (
        503,
        {"status": "unavailable", "reasons": [UNREACHABLE]},
    )
    assert len(attempts) >= 2
    assert all(UNREACHABLE in record.message and not record.exc_info for record in attempts)
    assert "Topology" not in caplog.text


def pretend_mongodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded store, opened as MongoDB is: in the background, indexes and all (but no
    change feed: mongomock has no change streams)."""
    connect = Database.connect

    async def no_changes(self: ChangeFeed) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(ChangeFeed, "run", no_changes)

    def connect_as_mongodb(settings: Settings, *, count_calls: bool = False) -> Database:
        db = connect(settings, count_calls=count_calls)
        db.embedded = False
        return db

    monkeypatch.setattr(Database, "connect", connect_as_mongodb)


async def test_index_builds_do_not_hold_up_serving_and_readyz_waits_for_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pretend_mongodb(monkeypatch)
    built = asyncio.Event()

    async def slow_build(self: Database) -> IndexReport:
        await built.wait()
        return IndexReport(created=["sessions.sessionId_unique"])

    monkeypatch.setattr(Database, "ensure_indexes", slow_build)
    app = create_app(make_settings(mongodb_url=None))
    async with asyncio.timeout(5), app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            for _ in range(100):
                building = await http.get("/readyz")
                if building.json()["reasons"] != ["connecting to MongoDB"]:
                    break
                await asyncio.sleep(0.01)
            assert (building.status_code, building.json()) == (
                503,
                {"status": "unavailable", "reasons": ["building indexes"]},
            )
            answered = await http.post("/graphql", json={"query": "{ users { totalCount } }"})
            assert answered.json() == {"data": {"users": {"totalCount": 0}}}
            built.set()
            await asyncio.sleep(0.01)
            ready = await http.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_readyz_reports_what_the_index_build_left_to_an_operator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pretend_mongodb(monkeypatch)
    warning = "cannot change the TTL indexes ... grant it dbAdmin ..."

    async def build(self: Database) -> IndexReport:
        return IndexReport(warnings=[warning])

    monkeypatch.setattr(Database, "ensure_indexes", build)
    app = create_app(make_settings(mongodb_url=None))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            for _ in range(100):
                ready = await http.get("/readyz")
                if ready.status_code == 200:
                    break
                await asyncio.sleep(0.01)
    assert ready.json() == {"status": "ready", "warnings": [warning]}
