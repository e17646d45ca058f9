"""The printed schema is committed, and honours the public contract (tests/contract.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from schema import SDL_PATH, build_schema
from tests.contract import CHECKER, CONTRACT, require

ROOT = Path(__file__).resolve().parent.parent


def test_committed_schema_is_what_the_code_prints() -> None:
    printed = build_schema().as_str() + "\n"
    assert SDL_PATH.read_text(encoding="utf-8") == printed, (
        "schema/schema.graphql is stale: run `memql schema > schema/schema.graphql`"
    )


def test_memql_schema_command_prints_the_committed_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "schema"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert result.stdout == SDL_PATH.read_text(encoding="utf-8")


def test_schema_has_zero_differences_from_the_contract() -> None:
    require(CONTRACT)
    result = subprocess.run(
        [sys.executable, str(require(CHECKER)), str(SDL_PATH)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 difference(s)" in result.stdout
