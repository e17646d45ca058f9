"""The real `graphql-ws` npm client (what Apollo's GraphQLWsLink and urql's subscriptionExchange
run) follows a session on a live memql: the token in connectionParams, stored memories after the
cursor then new ones, in order, errors as GraphQL errors, a bad token closed with 4403."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx

from app.web.http import create_app
from app.web.live_server import ServerThread
from app.web.serving import server_options
from tests.node_script import node_script
from tests.support.client import SECRET, token_for
from tests.support.stores import make_settings

PACKAGES = ["graphql-ws@6.4.2", "ws@8.23.0", "graphql@16.9.0"]

ADD = """
mutation($s: String!, $m: [MemoryInput!]!) {
  addMemory(input: {sessionId: $s, memories: $m}) { memories { id } }
}
"""


async def test_the_graphql_ws_npm_client_follows_a_session() -> None:
    node, script = node_script("graphql_ws_client.mjs", PACKAGES, "run the graphql-ws client")
    settings = make_settings(auth_secret=SECRET)
    token = token_for(ttl=timedelta(minutes=10))
    with ServerThread(create_app(settings), **server_options(settings)) as server:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"authorization": f"Bearer {token}"}
        ) as http:

            async def add(*contents: str) -> None:
                memories = [{"role": "human", "content": content} for content in contents]
                body = await http.post(
                    "/graphql", json={"query": ADD, "variables": {"s": "chat", "m": memories}}
                )
                assert "errors" not in body.json()

            await add("one", "two", "three")
            page = await http.post(
                "/graphql",
                json={"query": '{ session(sessionId: "chat") { memories { edges { cursor } } } }'},
            )
            after = page.json()["data"]["session"]["memories"]["edges"][0]["cursor"]
            ws_url = server.url.replace("http://", "ws://") + "/graphql"
            process = await asyncio.create_subprocess_exec(
                node,
                str(script),
                ws_url,
                token,
                "chat",
                after,
                "4",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            await add("four")
            await add("five")
            stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    seen = json.loads(stdout)
    events = [event["data"]["memoryAdded"] for event in seen["followed"]["events"]]
    assert [event["node"]["content"] for event in events] == ["two", "three", "four", "five"]
    assert all(event["cursor"] for event in events)
    [error] = seen["unknown"]["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert seen["badToken"]["closed"]["code"] == 4403
