"""How memql is served: Host checks against DNS rebinding when authentication is off, uvicorn's
connection limits from the settings, and what `--reload` watches."""

from __future__ import annotations

import importlib.util
import logging
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner
from uvicorn.supervisors import ChangeReload

from app.web.cli import main
from app.web.http import create_app
from app.web.live_server import ServerThread
from app.web.serving import SilentConnectionTimeout, server_options
from tests.support.client import SECRET, running_app
from tests.support.stores import make_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:8000", 200),
        ("localhost", 200),
        ("[::1]:8000", 200),
        ("attacker.example:8000", 400),
        ("127.0.0.1.attacker.example", 400),
    ],
)
async def test_without_authentication_only_loopback_host_names_are_answered(
    host: str, status: int
) -> None:
    async with running_app(make_settings()) as api:
        response = await api.http.post(
            "/graphql", json={"query": "{ users { totalCount } }"}, headers={"host": host}
        )
        assert response.status_code == status


async def test_allowed_hosts_are_answered_too_and_any_host_when_tokens_guard() -> None:
    async with running_app(make_settings(allowed_hosts="chat.internal,*.corp.example")) as api:
        for host, status in (("chat.internal", 200), ("a.corp.example", 200), ("x.example", 400)):
            response = await api.http.get("/healthz", headers={"host": host})
            assert response.status_code == status, host
    async with running_app(make_settings(auth_secret=SECRET)) as api:
        response = await api.http.get("/healthz", headers={"host": "attacker.example"})
        assert response.status_code == 200


def test_allowed_hosts_must_be_host_names() -> None:
    from app.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="MEMQL_ALLOWED_HOSTS"):
        load_settings(_env_file=None, allowed_hosts="http://chat.example.com")


def test_serve_passes_the_connection_limits_to_uvicorn_and_allows_the_bound_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.delenv("MEMQL_ALLOWED_HOSTS", raising=False)
    environment = {
        "MEMQL_MAX_CONNECTIONS": "50",
        "MEMQL_KEEP_ALIVE_SECONDS": "2.5",
        "MEMQL_MAX_HEADER_BYTES": "8192",
        "MEMQL_ALLOW_UNAUTHENTICATED": "true",
    }
    result = CliRunner().invoke(main, ["serve", "--host", "10.1.2.3"], env=environment)
    assert result.exit_code == 0, result.output
    [options] = calls
    assert options["limit_concurrency"] == 50
    assert options["timeout_keep_alive"] == 2.5
    assert options["h11_max_incomplete_event_size"] == 8192
    assert options["http"] is SilentConnectionTimeout
    assert options["ws_max_size"] == 1024 * 1024  # MEMQL_MAX_BODY_BYTES
    import os

    assert os.environ["MEMQL_ALLOWED_HOSTS"] == "10.1.2.3"


def test_serving_every_interface_without_authentication_logs_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: None)
    result = CliRunner().invoke(
        main,
        ["serve", "--host", "0.0.0.0"],
        env={"MEMQL_ALLOW_UNAUTHENTICATED": "true", "MEMQL_AUTH_SECRET": ""},
    )
    assert result.exit_code == 0
    [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name != "memql.db"]
    assert (warning.name, warning.levelname) == ("memql.cli", "WARNING")
    assert warning.getMessage().startswith(
        "authentication is off and memql listens on every interface (0.0.0.0)"
    )
    assert "authentication is off" not in result.output  # logged, as text or JSON, not echoed


def test_connections_that_send_nothing_are_closed_after_the_keep_alive_time() -> None:
    """uvicorn alone keeps a silent new connection open for good; memql closes it."""
    settings = make_settings(keep_alive_seconds=0.3)
    with ServerThread(create_app(settings), **server_options(settings)) as server:
        port = server.port
        sockets = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
        started = time.monotonic()
        closed = [sock.recv(1) == b"" for sock in sockets]
        elapsed = time.monotonic() - started
        for sock in sockets:
            sock.close()
    assert all(closed)
    assert elapsed < 3


def test_a_request_head_over_the_limit_is_refused() -> None:
    settings = make_settings(max_header_bytes=2048)
    with ServerThread(create_app(settings), **server_options(settings)) as server:
        port = server.port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            # A head that does not end: the server may not buffer it past the limit.
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 4096)
            answer = sock.recv(200)
    assert answer.startswith(b"HTTP/1.1 4")


@pytest.mark.parametrize(
    ("header_bytes", "writes"),
    [(20_000, 2), (100_000, 1)],
    ids=["20-kB-in-two-writes", "100-kB-in-one-write"],
)
def test_a_whole_request_head_over_the_limit_is_431_however_it_arrives(
    header_bytes: int, writes: int
) -> None:
    settings = make_settings(max_header_bytes=16 * 1024)
    head = (
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * header_bytes + b"\r\n\r\n"
    )
    with ServerThread(create_app(settings), **server_options(settings)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            size = len(head) // writes + 1
            for start in range(0, len(head), size):
                sock.sendall(head[start : start + size])
                time.sleep(0.05)
            answer = sock.recv(200)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            fine = sock.recv(200)
    assert answer.startswith(b"HTTP/1.1 431"), answer
    assert fine.startswith(b"HTTP/1.1 200"), fine


def serve_options(monkeypatch: pytest.MonkeyPatch, *arguments: str) -> dict[str, Any]:
    """The keyword arguments `memql serve ARGUMENTS` passes to uvicorn.run."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: calls.append(kwargs))
    result = CliRunner().invoke(main, ["serve", *arguments], env={"MEMQL_AUTH_SECRET": ""})
    assert result.exit_code == 0, result.output
    [options] = calls
    return options


def reload_config(options: dict[str, Any]) -> uvicorn.Config:
    """uvicorn's Config for those options, as `uvicorn.run` builds it (without applying their
    logging configuration to this test process)."""
    return uvicorn.Config("app.web.http:create_app", **{**options, "log_config": None})


def test_reload_watches_app_and_schema_with_watchfiles_including_the_static_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from uvicorn.supervisors.watchfilesreload import FileFilter, WatchFilesReload

    monkeypatch.chdir(tmp_path)  # uvicorn would watch the working directory by default
    config = reload_config(serve_options(monkeypatch, "--reload"))
    assert sorted(config.reload_dirs) == [ROOT / "app", ROOT / "schema"]
    assert ChangeReload is WatchFilesReload
    watched = FileFilter(config)
    static = [
        path
        for path in (ROOT / "app" / "web" / "static").rglob("*")
        if path.is_file() and path.suffix != ".txt"  # licence texts, which memql never reads
    ]
    code = [*(ROOT / "app").rglob("*.py"), *(ROOT / "schema").rglob("*.py")]
    assert len(static) > 10 and len(code) > 30
    assert [path for path in [*static, *code] if not watched(path)] == []
    assert not watched(ROOT / "app" / "__pycache__" / "http.cpython-311.pyc")


def test_reload_without_watchfiles_polls_the_python_files_of_app_and_schema(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec",
        lambda name, *args: None if name == "watchfiles" else find_spec(name, *args),
    )
    monkeypatch.chdir(tmp_path)
    options = serve_options(monkeypatch, "--reload")
    assert "reload_includes" not in options  # uvicorn's polling warns that it ignores them
    config = reload_config(options)
    assert sorted(config.reload_dirs) == [ROOT / "app", ROOT / "schema"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_without_reload_no_reload_options_are_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    options = serve_options(monkeypatch)
    assert options["reload"] is False
    assert not {"reload_dirs", "reload_includes"} & set(options)
