"""The client README's example runs as written against a live `memql serve`."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from app.web.live_server import ServerProcess
from conftest import TEST_MONGODB_URL

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE_URL = "http://127.0.0.1:8000/graphql"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- client-readme:example -->\n```python\n", 1)[1]
    return block.split("\n```", 1)[0] + "\n"


@pytest.fixture
def memql_serve(tmp_path: Path) -> Iterator[str]:
    """`memql serve` on a free port of 127.0.0.1, in a clean directory and environment."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("MEMQL_")}
    env["MEMQL_DATABASE"] = f"memql_readme_{uuid.uuid4().hex[:12]}"
    if TEST_MONGODB_URL is not None:
        env["MEMQL_MONGODB_URL"] = TEST_MONGODB_URL
    with ServerProcess([sys.executable, "-m", "app", "serve"], cwd=tmp_path, env=env) as server:
        yield f"{server.url}/graphql"


def test_client_readme_example_adds_memories_and_prints_them(memql_serve: str) -> None:
    example = readme_example()
    assert len([line for line in example.splitlines() if line.strip()]) <= 5
    assert EXAMPLE_URL in example
    result = subprocess.run(
        [sys.executable, "-c", example.replace(EXAMPLE_URL, memql_serve)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "human: Hi!\nai: Hello, Alice.\n"
