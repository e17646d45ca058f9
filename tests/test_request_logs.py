"""One log line per request, as text or as JSON for machines."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.requests import ClientDisconnect
from starlette.types import Message, Scope

from app.logs import make_formatter
from tests.support.client import GraphQLClient


async def test_each_request_logs_one_line_with_its_facts(
    api: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="memql.access")
    await api.http.post(
        "/graphql",
        json={"query": "query ListUsers { users { totalCount } }"},
        headers={"x-request-id": "req-1"},
    )
    await api.http.get("/healthz", headers={"x-request-id": "req-2"})
    lines = [r for r in caplog.records if r.name == "memql.access"]
    assert len(lines) == 2
    graphql, health = lines
    assert (graphql.method, graphql.path, graphql.operation, graphql.status) == (  # type: ignore[attr-defined]
        "POST",
        "/graphql",
        "ListUsers",
        200,
    )
    assert graphql.request_id == "req-1"  # type: ignore[attr-defined]
    assert graphql.duration_ms >= 0  # type: ignore[attr-defined]
    assert "ListUsers" in graphql.getMessage() and "req-1" in graphql.getMessage()
    assert (health.path, health.status, health.request_id) == ("/healthz", 200, "req-2")  # type: ignore[attr-defined]


async def test_the_operation_name_given_by_the_client_wins(
    api: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="memql.access")
    await api.http.post(
        "/graphql",
        json={
            "query": "query A { users { totalCount } } query B { sessions { totalCount } }",
            "operationName": "B",
        },
    )
    (line,) = [r for r in caplog.records if r.name == "memql.access"]
    assert line.operation == "B"  # type: ignore[attr-defined]


def test_json_log_lines_carry_the_request_fields() -> None:
    record = logging.LogRecord("memql.access", logging.INFO, __file__, 1, "POST /graphql", (), None)
    for name, value in {
        "status": 200,
        "duration_ms": 1.5,
        "request_id": "r",
        "operation": "Q",
        "method": "POST",
        "path": "/graphql",
    }.items():
        setattr(record, name, value)
    line = json.loads(make_formatter("json").format(record))
    assert line["level"] == "INFO" and line["logger"] == "memql.access"
    assert line["message"] == "POST /graphql"
    assert {k: line[k] for k in ("status", "duration_ms", "request_id", "operation")} == {
        "status": 200,
        "duration_ms": 1.5,
        "request_id": "r",
        "operation": "Q",
    }
    assert "time" in line


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "memql.access"]


FORGED = "X\n2026-11-25 17:00:00,000 INFO memql.access: POST /graphql PurgeAll 200 0.10ms id=f"


@pytest.mark.parametrize(
    ("query", "operation_name"),
    [
        pytest.param("{ __typename }", FORGED, id="control-characters"),
        pytest.param("query A { __typename }", "B", id="names-no-operation"),
        pytest.param("{ __typename }", "A" * 500_000, id="huge"),
        pytest.param("query A { __typename } query B { __typename }", "\ud800", id="surrogate"),
    ],
)
async def test_only_an_operation_the_document_defines_is_logged(
    api: GraphQLClient, caplog: pytest.LogCaptureFixture, query: str, operation_name: str
) -> None:
    caplog.set_level(logging.INFO, logger="memql.access")
    response = await api.http.post(
        "/graphql",
        # json.dumps escapes the surrogate as JSON allows; httpx's own encoding would refuse it.
        content=json.dumps({"query": query, "operationName": operation_name}),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    (line,) = access_lines(caplog)
    assert line.operation == "-"  # type: ignore[attr-defined]
    assert line.getMessage().isprintable()
    assert "PurgeAll" not in line.getMessage()


async def test_a_long_operation_name_is_logged_cut_short(
    api: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="memql.access")
    name = "Q" * 1000
    await api.data(f"query {name} {{ __typename }}")
    (line,) = access_lines(caplog)
    assert line.operation == "Q" * 100  # type: ignore[attr-defined]


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Scope:
    """An ASGI scope, to call the app directly where httpx insists on an answer."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }


async def test_a_client_gone_mid_body_is_logged_once_without_an_error(
    api: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"query": "{ __typ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = http_scope("POST", "/graphql", [(b"content-type", b"application/json")])
    await api.app(scope, receive, send)
    assert sent == []  # nobody is left to answer
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    (line,) = access_lines(caplog)
    assert line.status == 499  # type: ignore[attr-defined]


async def test_a_client_gone_before_the_answer_is_logged_as_499_not_as_an_error(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def gone() -> bool:
        raise ClientDisconnect

    monkeypatch.setattr(api.store.db, "unreachable", gone)
    caplog.set_level(logging.INFO)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await api.app(http_scope("GET", "/readyz", []), receive, send)
    assert sent == []  # nobody is left to answer
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    (line,) = access_lines(caplog)
    assert line.status == 499  # type: ignore[attr-defined]
