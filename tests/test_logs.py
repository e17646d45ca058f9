"""What `memql serve` writes: with MEMQL_LOG_FORMAT=json every line, memql's and uvicorn's, is one
JSON object stamped in UTC; as text, every line starts with the same UTC time for people."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from app.logs import logging_config
from app.web.live_server import LOOPBACK, ServerProcess
from tests.support.stores import TEST_MONGODB_URL, make_settings

ROOT = Path(__file__).resolve().parent.parent
TEXT_LINE = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<level>[A-Z]+) (?P<logger>[\w.]+): .+"
)


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without MEMQL_* names, plus `settings`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("MEMQL_")}
    env["MEMQL_DATABASE"] = f"memql_logs_{uuid.uuid4().hex[:12]}"
    if TEST_MONGODB_URL is not None:
        env["MEMQL_MONGODB_URL"] = TEST_MONGODB_URL
    return {**env, **settings}


def serve_a_little(tmp_path: Path, **settings: str) -> list[str]:
    """Every line `memql serve` prints from start to stop, having answered a health probe, a
    GraphQL query and a request that is not HTTP (which uvicorn's error logger reports)."""
    command = [sys.executable, "-m", "app", "serve"]
    with ServerProcess(command, cwd=tmp_path, env=clean_environment(**settings)) as server:
        health = httpx.get(f"{server.url}/healthz", headers={"x-request-id": "logs-1"})
        assert health.status_code == 200
        graphql = httpx.post(
            f"{server.url}/graphql",
            json={"query": "query Count { users { totalCount } }"},
            headers={"x-request-id": "logs-2"},
        )
        assert graphql.status_code == 200
        with socket.create_connection((LOOPBACK, server.port), timeout=5) as sock:
            sock.sendall(b"not http at all\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 400")
        server.stop()
        output = server.log_text(limit=1_000_000)
    return output.splitlines()


def utc_time(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    assert moment.utcoffset() is not None and moment.utcoffset() == UTC.utcoffset(None), stamp
    return moment


def test_every_line_of_memql_serve_is_a_json_object_with_a_utc_time(tmp_path: Path) -> None:
    lines = serve_a_little(tmp_path, MEMQL_LOG_FORMAT="json", MEMQL_DEFALT_PAGE_SIZE="10")
    records: list[dict[str, Any]] = [json.loads(line) for line in lines]
    assert all(isinstance(record, dict) for record in records), lines
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert "color_message" not in record
        utc_time(record["time"])
    by_logger = {(record["logger"], record["message"].split(" [")[0]) for record in records}
    assert {
        ("uvicorn.error", "Started server process"),
        ("uvicorn.error", "Invalid HTTP request received."),
        ("uvicorn.error", "Finished server process"),
    } <= by_logger
    assert any(record["message"].startswith("Uvicorn running on http://") for record in records)
    # Warned once, by the command, before uvicorn starts.
    messages = [record["message"] for record in records]
    [typo] = [index for index, message in enumerate(messages) if "DEFALT" in message]
    started = next(index for index, message in enumerate(messages) if "Started server" in message)
    assert typo < started
    assert (records[typo]["logger"], records[typo]["level"]) == ("memql.cli", "WARNING")
    access = [record for record in records if record["logger"] == "memql.access"]
    assert [
        (record["path"], record["operation"], record["status"])
        for record in access
        if record["request_id"].startswith("logs-")
    ] == [("/healthz", "-", 200), ("/graphql", "Count", 200)]
    times = [utc_time(record["time"]) for record in records]
    assert times == sorted(times)


def test_text_lines_start_with_a_utc_time_a_level_and_the_logger(tmp_path: Path) -> None:
    lines = serve_a_little(tmp_path, MEMQL_LOG_FORMAT="text")
    matches = [TEXT_LINE.fullmatch(line) for line in lines]
    assert all(matches), [line for line, match in zip(lines, matches, strict=True) if not match]
    loggers = {match["logger"] for match in matches if match}
    assert {"uvicorn.error", "memql.access"} <= loggers
    for match in matches:
        assert match is not None
        utc_time(match["time"])


def test_uvicorns_access_log_and_tracebacks_stay_one_json_line_each() -> None:
    """The access log, off in `memql serve` (memql logs requests itself), and an error with a
    traceback, from a process configured with memql's logging configuration alone."""
    config = logging_config(make_settings(log_format="json"))
    program = textwrap.dedent(
        f"""
        import logging, logging.config
        logging.config.dictConfig({config!r})
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/healthz", "1.1", 200
        )
        try:
            1 / 0
        except ZeroDivisionError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
        logging.getLogger("some.library").warning("a library's warning")
        logging.getLogger("some.library").info("a library's chatter")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout == ""
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(record["logger"], record["level"]) for record in records] == [
        ("uvicorn.access", "INFO"),
        ("uvicorn.error", "ERROR"),
        ("some.library", "WARNING"),
    ]
    assert records[0]["message"] == '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200'
    assert "ZeroDivisionError" in records[1]["exc_info"]
    for record in records:
        utc_time(record["time"])
