"""One log line per request, as text or as JSON for machines."""

from __future__ import annotations

import json
import logging

import pytest

from app.logs import make_formatter
from tests.conftest import GraphQLClient


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
