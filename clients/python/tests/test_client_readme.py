"""The client README's examples run as written against a live `memql serve`."""

from __future__ import annotations

import importlib.util
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


NEEDS_LANGCHAIN = pytest.mark.skipif(
    importlib.util.find_spec("langchain") is None,
    reason="needs LangChain, the extra memql-client[langchain]",
)


def readme_example(name: str = "example") -> str:
    text = README.read_text(encoding="utf-8")
    block = text.split(f"<!-- client-readme:{name} -->\n```python\n", 1)[1]
    return block.split("\n```", 1)[0] + "\n"


def run_example(example: str, url: str) -> str:
    """What the example prints when it runs in a new Python process against memql at `url`."""
    assert EXAMPLE_URL in example
    result = subprocess.run(
        [sys.executable, "-c", example.replace(EXAMPLE_URL, url)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def memql_serve(tmp_path: Path) -> Iterator[str]:
    """`memql serve` on a free port of 127.0.0.1, in a clean directory and environment."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("MEMQL_")}
    env["MEMQL_DATABASE"] = f"memql_readme_{uuid.uuid4().hex[:12]}"
    env["MEMQL_DATA_DIR"] = ""  # memory only
    if TEST_MONGODB_URL is not None:
        env["MEMQL_MONGODB_URL"] = TEST_MONGODB_URL
    with ServerProcess([sys.executable, "-m", "app", "serve"], cwd=tmp_path, env=env) as server:
        yield f"{server.url}/graphql"


def test_client_readme_example_adds_memories_and_prints_them(memql_serve: str) -> None:
    example = readme_example()
    assert len([line for line in example.splitlines() if line.strip()]) <= 5
    assert run_example(example, memql_serve) == "human: Hi!\nai: Hello, Alice.\n"


@NEEDS_LANGCHAIN
def test_readme_agent_example_keeps_its_session_and_a_fresh_process_continues_it(
    memql_serve: str,
) -> None:
    example = readme_example("langchain-agent")
    assert run_example(example, memql_serve) == ("2 Rooibos: it has no caffeine.\n4 Yes, iced.\n")
    # A new process, with a new agent and nothing but memql to remember the first run by.
    assert run_example(example, memql_serve) == ("6 Rooibos: it has no caffeine.\n8 Yes, iced.\n")


@NEEDS_LANGCHAIN
def test_readme_history_example_runs_under_runnable_with_message_history(
    memql_serve: str,
) -> None:
    assert run_example(readme_example("langchain-history"), memql_serve) == (
        "Rooibos.\nAbout 95 °C.\n['human', 'ai', 'human', 'ai']\n"
    )
