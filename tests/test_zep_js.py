"""The real Zep TypeScript SDK, `@getzep/zep-js` 0.10.0 (pinned: npm's latest is a later, other
API), unchanged against memql: its base URL is memql's origin, since it replaces the URL's path
with /api/v1 (the same route table as /zep). Every method of its memory, message and user
managers, with and without a token, and what it wrote read back through GraphQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx

from app.web.http import create_app
from app.web.live_server import ServerThread
from app.web.serving import server_options
from tests.node_script import node_script
from tests.support.client import SECRET, token_for
from tests.support.stores import make_settings

PACKAGES = ["@getzep/zep-js@0.10.0"]


async def drive(base_url: str, message_uuid: str) -> dict[str, Any]:
    """Runs tests/zep_js_driver.mjs: its report, each call's name with its value or error."""
    node, script = node_script("zep_js_driver.mjs", PACKAGES, "run the Zep TypeScript SDK")
    admin = token_for(ttl=timedelta(minutes=10))
    forged = token_for(ttl=timedelta(minutes=10))[:-4] + "AAAA"
    process = await asyncio.create_subprocess_exec(
        node,
        str(script),
        base_url,
        admin,
        forged,
        message_uuid,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    report: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return report


def session_ids(value: list[dict[str, Any]]) -> list[str]:
    return [session["session_id"] for session in value]


async def test_zep_js_runs_every_call_against_memql_unchanged() -> None:
    settings = make_settings(auth_secret=SECRET)
    message_uuid = str(uuid.uuid4())
    with ServerThread(create_app(settings), **server_options(settings)) as server:
        report = await drive(server.url, message_uuid)
        async with httpx.AsyncClient(
            base_url=server.url, headers={"authorization": f"Bearer {token_for()}"}
        ) as http:
            read = await http.post(
                "/graphql",
                json={
                    "query": '{ user(userId: "ts-user") { email firstName lastName metadata } '
                    'session(sessionId: "ts-s1") { metadata userId memories { edges { node '
                    "{ uuid role roleType content metadata } } } } "
                    'gone: user(userId: "ts-gone") { userId } '
                    'wiped: session(sessionId: "ts-s2") { sessionId } }'
                },
            )
    # The health check at `${baseURL}/healthz` found X-Zep-Version: no warning.
    assert report["warnings"] == []
    results = {result.pop("name"): result for result in report["results"]}
    value = {name: result.get("value") for name, result in results.items()}
    errors = {name: result for name, result in results.items() if "error" in result}

    merged_user = {"a": 1, "nested": {"x": 1, "y": 2}}
    assert value["user.add"]["metadata"] == {"a": 1, "nested": {"x": 1}}
    assert value["user.get"]["email"] == "ts@example.com"
    assert (value["user.update"]["last_name"], value["user.update"]["metadata"]) == (
        "Ng",
        merged_user,
    )
    assert [user["user_id"] for user in value["user.list"]] == ["ts-user", "ts-gone"]
    assert value["user.listChunked"] == [["ts-user"], ["ts-gone"]]
    assert value["memory.getSession"]["metadata"] == {"m": 1}
    assert value["memory.updateSession"]["metadata"] == {"m": 1, "n": 2}
    assert value["memory.updateSession"]["user_id"] == "ts-user"
    assert session_ids(value["memory.listSessions"]) == ["ts-s1", "ts-s2", "ts-s3"]
    assert session_ids(value["memory.listSessions 2 from 1"]) == ["ts-s2", "ts-s3"]
    assert value["memory.listSessionsChunked"] == [["ts-s1", "ts-s2"], ["ts-s3"]]
    assert value["memory.addMemory"] == "OK"
    # No `lastn`: Zep's window (12) of the newest messages, oldest first.
    messages = value["memory.getMemory"]["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("human", "hello there"),
        ("ai", "hi"),
        ("human", "bye"),
    ]
    assert messages[0]["metadata"] == {"k": 1}
    # The uuid, token_count and created_at a message carried are read and, as documented,
    # not kept: memql assigns them.
    assert message_uuid not in {m["uuid"] for m in messages}
    assert [m["content"] for m in value["memory.getMemory lastn 1"]["messages"]] == ["bye"]
    listed = value["message.getSessionMessages"]
    assert [m["content"] for m in listed] == ["hello there", "hi", "bye"]
    assert [m["content"] for m in value["message.getSessionMessages 2 page 2"]] == ["bye"]
    assert value["message.getSessionMessage"] == listed[0]
    updated = value["message.updateSessionMessageMetadata"]
    assert (updated["uuid"], updated["metadata"]) == (listed[0]["uuid"], {"k": 1, "extra": True})
    # memql's search, by words: the best first with dist 1.0; MMR it does not do.
    found = value["memory.searchMemory"]
    assert sorted(result["message"]["content"] for result in found) == ["bye", "hello there"]
    assert found[0]["dist"] == 1.0 and all(0 < result["dist"] <= 1 for result in found)
    assert errors["memory.searchMemory mmr"] == {
        "error": "APIError",
        "status": 501,
        "body": "memql does not implement Zep's MMR search (search_type mmr)\n",
    }
    assert session_ids(value["user.getSessions"]) == ["ts-s1"]
    assert value["memory.deleteMemory"] == "OK"
    assert value["user.delete"] == "OK"
    for missing in (
        "memory.getMemory deleted",
        "user.get deleted",
        "memory.getSession missing",
        "message.getSessionMessage missing",
    ):
        assert errors[missing] == {"error": "NotFoundError"}, missing
    for refused in (
        "no token: memory.getSession",
        "no token: user.list",
        "bad token: memory.addMemory",
    ):
        assert errors[refused] == {"error": "AuthenticationError"}, refused
    assert set(errors) == {
        "memory.searchMemory mmr",
        "memory.getMemory deleted",
        "user.get deleted",
        "memory.getSession missing",
        "message.getSessionMessage missing",
        "no token: memory.getSession",
        "no token: user.list",
        "bad token: memory.addMemory",
    }

    # What zep-js wrote reads the same through GraphQL.
    data = read.json()["data"]
    assert data["user"] == {
        "email": "ts@example.com",
        "firstName": "Tess",
        "lastName": "Ng",
        "metadata": merged_user,
    }
    session = data["session"]
    assert (session["metadata"], session["userId"]) == ({"m": 1, "n": 2}, "ts-user")
    nodes = [edge["node"] for edge in session["memories"]["edges"]]
    assert [(n["uuid"], n["role"], n["roleType"], n["content"]) for n in nodes] == [
        (m["uuid"], m["role"], rt, m["content"])
        for m, rt in zip(listed, ["USER", "ASSISTANT", "USER"], strict=True)
    ]
    assert nodes[0]["metadata"] == {"k": 1, "extra": True}
    assert data["gone"] is None and data["wiped"] is None
