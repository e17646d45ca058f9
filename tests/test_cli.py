"""The `memql` command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.web.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_serve_refuses_several_workers_on_the_embedded_store() -> None:
    result = CliRunner().invoke(main, ["serve", "--workers", "2"], env={"MEMQL_MONGODB_URL": ""})
    assert result.exit_code == 2
    assert "each worker would hold its own separate in-memory data" in result.output


def test_a_bad_setting_stops_start_up_with_a_clear_message() -> None:
    result = CliRunner().invoke(main, ["serve"], env={"MEMQL_MAX_PAGE_SIZE": "lots"})
    assert result.exit_code == 1
    assert "MEMQL_MAX_PAGE_SIZE" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(main, ["serve"], env={"MEMQL_MONGODB_URL": "http://nope"})
    assert "MEMQL_MONGODB_URL" in result.output and "mongodb://" in result.output


def test_python_dash_m_app_is_memql() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "MEMQL_LOG_LEVEL": "INFO"},
    )
    assert result.returncode == 0
    assert "serve" in result.stdout and "schema" in result.stdout


def test_serve_defaults_to_loopback_port_8000() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert "127.0.0.1" in result.output and "8000" in result.output


SECRET_ENV = {"MEMQL_AUTH_SECRET": "cli-test-secret-that-is-32-bytes-long!"}


def test_token_prints_a_signed_user_token() -> None:
    import jwt

    result = CliRunner().invoke(
        main, ["token", "--user-id", "alice", "--ttl", "30m"], env=SECRET_ENV
    )
    assert result.exit_code == 0, result.output
    claims = jwt.decode(
        result.output.strip(), SECRET_ENV["MEMQL_AUTH_SECRET"], algorithms=["HS256"]
    )
    assert (claims["role"], claims["sub"]) == ("user", "alice")
    assert claims["exp"] - claims["iat"] == 1800


def test_token_prints_an_admin_token() -> None:
    import jwt

    result = CliRunner().invoke(main, ["token", "--admin"], env=SECRET_ENV)
    claims = jwt.decode(
        result.output.strip(), SECRET_ENV["MEMQL_AUTH_SECRET"], algorithms=["HS256"]
    )
    assert claims["role"] == "admin" and "sub" not in claims
    assert claims["exp"] - claims["iat"] == 3600


def test_token_needs_a_secret_and_exactly_one_subject() -> None:
    runner = CliRunner()
    assert (
        "MEMQL_AUTH_SECRET is not set"
        in runner.invoke(main, ["token", "--admin"], env={"MEMQL_AUTH_SECRET": ""}).output
    )
    assert runner.invoke(main, ["token"], env=SECRET_ENV).exit_code == 2
    assert (
        runner.invoke(main, ["token", "--admin", "--user-id", "a"], env=SECRET_ENV).exit_code == 2
    )
    assert runner.invoke(main, ["token", "--admin", "--ttl", "soon"], env=SECRET_ENV).exit_code == 2
    assert runner.invoke(main, ["token", "--user-id", ""], env=SECRET_ENV).exit_code == 2


def test_a_short_secret_is_refused_at_start_up() -> None:
    result = CliRunner().invoke(main, ["serve"], env={"MEMQL_AUTH_SECRET": "short"})
    assert result.exit_code == 1
    assert "MEMQL_AUTH_SECRET" in result.output and "32 bytes" in result.output


def test_serve_refuses_a_public_address_without_authentication(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[dict[str, object]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.append(kwargs))
    runner = CliRunner()
    refused = runner.invoke(main, ["serve", "--host", "0.0.0.0"], env={"MEMQL_AUTH_SECRET": ""})
    assert refused.exit_code == 2
    assert "without authentication" in refused.output
    assert "MEMQL_ALLOW_UNAUTHENTICATED" in refused.output
    assert started == []
    for env in ({**SECRET_ENV}, {"MEMQL_AUTH_SECRET": "", "MEMQL_ALLOW_UNAUTHENTICATED": "true"}):
        assert runner.invoke(main, ["serve", "--host", "0.0.0.0"], env=env).exit_code == 0
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert (
            runner.invoke(main, ["serve", "--host", host], env={"MEMQL_AUTH_SECRET": ""}).exit_code
            == 0
        )
    assert [kwargs["host"] for kwargs in started] == [
        "0.0.0.0",
        "0.0.0.0",
        "127.0.0.1",
        "localhost",
        "::1",
        "127.0.0.2",
    ]
    assert all(kwargs["access_log"] is False for kwargs in started)


@pytest.mark.parametrize(
    "ttl",
    ["3000000d", "3651d", "87601h", "9" * 5000 + "s"],
    ids=["3000000d", "3651d", "87601h", "5000-digits"],
)
def test_token_refuses_a_lifetime_over_ten_years_with_a_clear_message(ttl: str) -> None:
    result = CliRunner().invoke(main, ["token", "--admin", "--ttl", ttl], env=SECRET_ENV)
    assert result.exit_code == 2
    assert "--ttl" in result.output and "at most 3650 days" in result.output
    assert isinstance(result.exception, SystemExit)  # not an OverflowError


def test_token_accepts_a_lifetime_of_ten_years() -> None:
    import jwt

    result = CliRunner().invoke(main, ["token", "--admin", "--ttl", "3650d"], env=SECRET_ENV)
    assert result.exit_code == 0, result.output
    claims = jwt.decode(
        result.output.strip(), SECRET_ENV["MEMQL_AUTH_SECRET"], algorithms=["HS256"]
    )
    assert claims["exp"] - claims["iat"] == 3650 * 86_400


@pytest.mark.parametrize(
    "secret",
    [
        " " * 40,
        "\t" * 32,
        "cli-test-secret-that-is-32-bytes-long!\n",
        "  short-secret-of-30-bytes-ok  ",
    ],
    ids=["spaces", "tabs", "trailing-newline", "padded"],
)
def test_a_secret_with_surrounding_whitespace_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    started: list[dict[str, object]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.append(kwargs))
    result = CliRunner().invoke(main, ["serve"], env={"MEMQL_AUTH_SECRET": secret})
    assert result.exit_code == 1
    assert "MEMQL_AUTH_SECRET" in result.output and "whitespace" in result.output
    assert started == []


@pytest.mark.parametrize(
    "origins",
    [
        "https://chat.example/",
        "chat.example",
        "https://Chat.example",
        "null",
        "https://a.example:99999",
    ],
)
def test_a_cors_origin_that_is_no_origin_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, origins: str
) -> None:
    started: list[dict[str, object]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.append(kwargs))
    result = CliRunner().invoke(
        main, ["serve"], env={"MEMQL_CORS_ORIGINS": f"http://localhost:3000, {origins}"}
    )
    assert result.exit_code == 1
    assert "MEMQL_CORS_ORIGINS" in result.output and repr(origins) in result.output
    assert "scheme://host[:port]" in result.output
    assert started == []


def test_cors_origins_may_be_a_star_or_scheme_host_and_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[dict[str, object]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.append(kwargs))
    for origins in ("*", "http://localhost:3000, https://chat.example.com, http://[::1]:8080"):
        result = CliRunner().invoke(main, ["serve"], env={"MEMQL_CORS_ORIGINS": origins})
        assert result.exit_code == 0, result.output
    assert len(started) == 2
