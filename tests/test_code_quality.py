"""ruff (lint and format), mypy --strict and vulture (dead code) on app/, schema/, bench/, the
tests and the Python client, run by the test command. mypy is marked slow: from a fresh clone, with
no cache yet, it takes about 30 s (under 2 s once cached); CI runs it, and so does `mypy` itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["app", "schema", "bench", "tests", "scripts", "clients/python"]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "app", "schema", "bench", "tests", "scripts", "clients/python"],
        [
            "ruff",
            "format",
            "--check",
            "app",
            "schema",
            "bench",
            "tests",
            "scripts",
            "clients/python",
        ],
        pytest.param(["mypy"], marks=pytest.mark.slow),
        ["vulture", "app", "schema", "bench", "vulture_whitelist.py", "--min-confidence", "60"],
        # The client supports Python 3.10, the server 3.11.
        pytest.param(
            ["mypy", "--python-version", "3.10", "clients/python/memql_client"],
            marks=pytest.mark.slow,
        ),
    ],
    ids=["ruff-check", "ruff-format", "mypy", "vulture", "mypy-client"],
)
def test_code_is_clean(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *command], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
