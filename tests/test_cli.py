"""The `memql` command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from app.cli import main

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
