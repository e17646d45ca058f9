"""The `memql` command's messages: each says what is wrong, and what to do, in one line."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
from click.testing import CliRunner

from app.settings import Settings, load_settings
from app.web.cli import main

ROOT = Path(__file__).resolve().parent.parent
SECRET_ENV = {"MEMQL_AUTH_SECRET": "cli-test-secret-that-is-32-bytes-long!"}


@pytest.mark.parametrize("port", ["abc", "65536", "-1", "80.5", ""])
def test_a_port_that_is_no_port_number_says_what_a_port_is(port: str) -> None:
    result = CliRunner().invoke(main, ["serve", "--port", port])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"Error: Invalid value for '--port': {port!r} is not a port: give a whole number from 0 "
        "to 65535, e.g. 8000"
    )


@pytest.mark.parametrize("ttl", ["0s", "00h", "0d"])
def test_token_refuses_a_lifetime_of_zero_saying_it_must_be_positive(ttl: str) -> None:
    result = CliRunner().invoke(main, ["token", "--admin", "--ttl", ttl], env=SECRET_ENV)
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        "Error: Invalid value for --ttl: a token's lifetime must be positive, e.g. 90s, 30m, 1h "
        "or 7d"
    )


def test_token_without_a_secret_says_how_to_make_one() -> None:
    result = CliRunner().invoke(main, ["token", "--admin"], env={"MEMQL_AUTH_SECRET": ""})
    assert result.exit_code == 2
    message = result.output.splitlines()[-1]
    assert message.startswith("Error: MEMQL_AUTH_SECRET is not set")
    commands = re.findall(r"`([^`]+)`", message)
    assert commands == [
        "openssl rand -hex 32",
        'python -c "import secrets; print(secrets.token_hex(32))"',
    ]
    # The Python one, run as shown (by this Python), makes a secret memql accepts.
    python = [sys.executable, *shlex.split(commands[1])[1:]]
    made = subprocess.run(python, capture_output=True, text=True, check=True)
    assert load_settings(_env_file=None, auth_secret=made.stdout.strip()).auth_enabled


def test_the_readme_lists_exactly_the_log_levels_memql_accepts() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [row] = [line for line in readme.splitlines() if line.startswith("| `MEMQL_LOG_LEVEL` |")]
    meaning = row.split("|")[3]
    accepted = get_args(Settings.model_fields["log_level"].annotation)
    assert re.findall(r"`([A-Z]+)`", meaning) == list(accepted)
    for level in accepted:
        assert load_settings(_env_file=None, log_level=level.lower()).log_level == level
