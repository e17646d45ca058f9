"""The real zep-python 1.5.0 SDK (sync and async memory, message and user clients, search
included) and LangChain's ZepChatMessageHistory and ZepRetriever against a live memql, then what
they wrote read through GraphQL. zep-python 1.x pins httpx<0.25, which memql's own test extras
cannot live with, so they run (tests/zep_sdk_driver.py) from a virtualenv this test builds once
and keeps in ~/.cache/memql-tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.store import Store
from app.web.http import create_app
from app.web.live_server import ServerThread
from schema.global_ids import to_global_id
from tests.support.client import SECRET, token_for
from tests.support.stores import make_settings

# Pinned together: without the pins pip spends minutes backtracking through langsmith releases
# built on httpx2, which needs an anyio that httpx<0.25 rules out.
PACKAGES = (
    "zep-python==1.5.0",
    "langchain-community==0.4.2",
    "langchain-classic==1.0.8",
    "langchain-core==1.6.10",
    "langsmith==0.4.60",
)
ENV = Path.home() / ".cache" / "memql-tests" / "zep-python-1.5.0"
READY = ENV / "memql-packages.txt"
"""Written last, with the packages installed: a virtualenv without it is rebuilt."""
DRIVER = Path(__file__).with_name("zep_sdk_driver.py")


def zep_python() -> Path:
    """The Python of the cached virtualenv, built first when it is missing or outdated; skips
    the test when the packages cannot be installed."""
    python = ENV / "bin" / "python"
    if READY.exists() and READY.read_text() == "\n".join(PACKAGES):
        return python
    shutil.rmtree(ENV, ignore_errors=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(ENV)], check=True, capture_output=True, timeout=300
        )
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *PACKAGES,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(ENV, ignore_errors=True)
        output = getattr(exc, "stderr", None) or str(exc)
        pytest.skip(
            f"cannot install {' '.join(PACKAGES)} into a virtualenv of their own ({ENV}): "
            f"{str(output).strip()[-600:]}"
        )
    READY.write_text("\n".join(PACKAGES))
    return python


class GraphQL:
    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=30
        )

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.client.post("/graphql", json={"query": query, "variables": variables}).json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


SEED = """
mutation {
  gqlUser: addUser(input: {userId: "gql-user", metadata: {source: "graphql"}}) { user { id } }
  alice: addUser(input: {userId: "alice"}) { user { id } }
  gqlSession: addSession(input: {sessionId: "gql-session", userId: "gql-user"}) { session { id } }
  aliceSession: addSession(input: {sessionId: "alice-s", userId: "alice"}) { session { id } }
  addMemory(input: {sessionId: "gql-session", memories: [
    {role: "human", roleType: USER, content: "question"}
    {role: "ai", roleType: ASSISTANT, content: "answer"}
  ]}) { memories { id } }
}
"""
MEMORIES = """
query($s: String!) {
  session(sessionId: $s) {
    memories(first: 100) { edges { node { uuid role roleType content metadata } } }
  }
}
"""


def memories(graphql: GraphQL, session_id: str) -> list[dict[str, Any]]:
    session = graphql.data(MEMORIES, {"s": session_id})["session"]
    return [edge["node"] for edge in session["memories"]["edges"]]


@pytest.mark.slow
def test_zep_python_and_langchain_work_against_memql_and_write_what_graphql_reads() -> None:
    python = zep_python()
    app = create_app(make_settings(auth_secret=SECRET))
    with ServerThread(app) as server:
        graphql = GraphQL(server.url, token_for())
        graphql.data(SEED)
        run = subprocess.run(
            [str(python), str(DRIVER), f"{server.url}/zep", token_for(), token_for("alice")],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"},
        )
        assert run.returncode == 0, run.stdout + run.stderr
        found = json.loads(run.stdout.strip().splitlines()[-1])

        user = graphql.data('{ user(userId: "sdk-user") { email firstName lastName metadata } }')
        assert user["user"] == {
            "email": "sdk@example.com",
            "firstName": "Sid",
            "lastName": "Kay",
            "metadata": {"prefs": {"tea": "green", "milk": False}},
        }
        gone = graphql.data(
            '{ u1: user(userId: "sdk-u1") { id } async: user(userId: "sdk-async") { id } '
            's3: session(sessionId: "sdk-s3") { id } as: session(sessionId: "sdk-as") { id } }'
        )
        assert gone == {"u1": None, "async": None, "s3": None, "as": None}

        merged = graphql.data(
            "query($id: ID!) { node(id: $id) { ... on Memory { role roleType metadata } } }",
            {"id": to_global_id("Memory", found["metadata_message"])},
        )
        assert merged["node"] == {
            "role": "ai",
            "roleType": "ASSISTANT",
            "metadata": {"rating": 5, "extra": {"a": 1, "b": 2}},
        }
        # Delete-then-add: only the new message is live; the old one is kept, deleted.
        assert [memory["content"] for memory in memories(graphql, "sdk-del")] == ["new"]
        assert [
            (memory["role"], memory["roleType"], memory["content"])
            for memory in memories(graphql, "lc-session")
        ] == [("human", "USER", "Back again.")]
        store: Store = app.state.store

        async def stored(session_id: str) -> list[dict[str, Any]]:
            cursor = store.db.memories.find({"sessionId": session_id})
            documents: list[dict[str, Any]] = await cursor.to_list(None)
            return documents

        old = {doc["content"]: "deletedAt" in doc for doc in server.call(stored("sdk-del"))}
        assert old == {"old": True, "new": False}
        lc = {doc["content"]: "deletedAt" in doc for doc in server.call(stored("lc-session"))}
        assert sum(lc.values()) == 4 and lc["Back again."] is False
