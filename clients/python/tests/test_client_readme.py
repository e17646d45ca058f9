"""The client README's examples run as written, one after the other, against a live `memql serve`
that has been through the main README's walk-through first."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from app.web.live_server import ServerProcess
from conftest import TEST_MONGODB_URL

CLIENT = Path(__file__).resolve().parents[1]
ROOT = CLIENT.parents[1]
README = CLIENT / "README.md"
MAIN_README = ROOT / "README.md"
EXAMPLE_URL = "http://127.0.0.1:8000/graphql"
HAS_LANGCHAIN = importlib.util.find_spec("langchain") is not None

# What each Python example prints, in the README's order; the agent's runs twice (a new
# process continues the conversation memql keeps).
PRINTS = {
    "example": [
        "human: Which tea has the least caffeine?\n"
        "ai: Rooibos: it has none at all.\n"
        "human: Hi!\n"
        "ai: Hello, Alice.\n"
    ],
    "async": ["chat-2 {'topic': 'tea'}\n"],
    "follow": ["human: Still there?\n"],
    "token": ["['chat-1']\n"],
    "errors": ["ALREADY_EXISTS input.userId\n"],
    "langchain-agent": [
        "2 Rooibos: it has no caffeine.\n4 Yes, iced.\n",
        "6 Rooibos: it has no caffeine.\n8 Yes, iced.\n",
    ],
    "langchain-history": ["Rooibos.\nAbout 95 °C.\n['human', 'ai', 'human', 'ai']\n"],
    "langchain-retriever": ["ai Rooibos: it has none at all.\n"],
}


@dataclass(frozen=True)
class Block:
    language: str
    name: str | None  # from the `<!-- client-readme:NAME -->` line above it
    code: str


def code_blocks(text: str) -> list[Block]:
    """Every fenced block, in order."""
    fence = re.compile(
        r"(?:<!-- client-readme:(?P<name>[\w-]+) -->\n)?```(?P<lang>\w*)\n(.*?)\n```", re.S
    )
    return [Block(match["lang"], match["name"], match[3] + "\n") for match in fence.finditer(text)]


def walk_through() -> list[str]:
    """The GraphQL documents of the main README's "A first mutation and query", in order."""
    section = MAIN_README.read_text(encoding="utf-8").split("## A first mutation and query", 1)[1]
    section = section.split("\n## ", 1)[0]
    return [block.code for block in code_blocks(section) if block.language == "graphql"]


def run_example(example: str, url: str) -> str:
    """What the example prints when it runs in a new Python process against memql at `url`."""
    assert EXAMPLE_URL in example
    result = subprocess.run(
        [sys.executable, "-c", example.replace(EXAMPLE_URL, url)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={name: value for name, value in os.environ.items() if name != "CHAT_USER_TOKEN"},
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


def test_every_python_example_is_named_and_its_output_known() -> None:
    blocks = code_blocks(README.read_text(encoding="utf-8"))
    assert [block.name for block in blocks if block.language == "python"] == list(PRINTS)
    assert {block.language for block in blocks} == {"python", "sh", "text"}
    # The one output shown as a block is the first example's.
    assert [block.code for block in blocks if block.language == "text"] == PRINTS["example"]
    example = next(block.code for block in blocks if block.name == "example")
    assert len([line for line in example.splitlines() if line.strip()]) <= 5  # "Five lines"


@pytest.mark.slow  # nine Python processes, four importing LangChain: about 14 s
def test_client_readme_examples_run_in_order_after_the_main_readmes_walk_through(
    memql_serve: str,
) -> None:
    documents = walk_through()
    assert len(documents) == 2 and documents[0].lstrip().startswith("mutation")
    for document in documents:
        body = httpx.post(memql_serve, json={"query": document}).json()
        assert "errors" not in body, body
    assert body["data"]["user"]["userId"] == "alice"

    ran = []
    for block in code_blocks(README.read_text(encoding="utf-8")):
        if block.language != "python" or block.name is None:
            continue
        if block.name.startswith("langchain") and not HAS_LANGCHAIN:
            continue  # needs the extra memql-client[langchain]; memql's test extras install it
        for expected in PRINTS[block.name]:
            assert run_example(block.code, memql_serve) == expected, block.name
        ran.append(block.name)
    assert ran == [name for name in PRINTS if HAS_LANGCHAIN or not name.startswith("langchain")]


def test_the_readmes_install_commands_name_this_package_and_its_extras() -> None:
    extras = set(importlib.metadata.metadata("memql-client").get_all("Provides-Extra") or [])
    commands = [
        shlex.split(block.code, comments=True)
        for block in code_blocks(README.read_text(encoding="utf-8"))
        if block.language == "sh"
    ]
    assert len(commands) == 2
    for command in commands:
        assert command[:2] == ["pip", "install"] and len(command) == 3
        path, _, wanted = command[2].partition("[")
        # Run from a clone of memql's repository, as the README says.
        assert (ROOT / path).resolve() == CLIENT
        assert set(filter(None, wanted.rstrip("]").split(","))) <= extras
