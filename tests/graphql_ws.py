"""A bare graphql-transport-ws client for the tests: each protocol message as JSON, over a real
socket (the `websockets` package) to a live server, so tests can send what a well-behaved client
never would and see every message and close code the server answers."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

PROTOCOL = Subprotocol("graphql-transport-ws")
WAIT_SECONDS = 10.0

MEMORY_ADDED = """
subscription Follow($sessionId: String!, $after: String) {
  memoryAdded(sessionId: $sessionId, after: $after) { cursor node { id content } }
}
"""


class Socket:
    """One connection; `receive` reads the next message, `closed` waits for the close code."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        async with asyncio.timeout(WAIT_SECONDS):
            message: dict[str, Any] = json.loads(await self.connection.recv())
        return message

    async def init(self, token: str | None = None) -> dict[str, Any]:
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive()

    async def subscribe(
        self,
        id: str,
        query: str = MEMORY_ADDED,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
    ) -> None:
        payload: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation_name is not None:
            payload["operationName"] = operation_name
        await self.send({"id": id, "type": "subscribe", "payload": payload})

    async def follow(self, id: str, session_id: str, after: str | None = None) -> None:
        await self.subscribe(id, variables={"sessionId": session_id, "after": after})

    async def closed(self) -> tuple[int, str]:
        """The close code and reason, once the server closes (messages before it are read)."""
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                while True:
                    await self.connection.recv()
        except ConnectionClosed as closed:
            received = closed.rcvd
            assert received is not None, "closed without a close frame"
            return received.code, received.reason
        raise AssertionError("unreachable")  # pragma: no cover

    async def contents(self, id: str, count: int) -> list[str]:
        """The contents of the next `count` events of subscription `id`."""
        found: list[str] = []
        while len(found) < count:
            message = await self.receive()
            assert message["id"] == id and message["type"] == "next", message
            assert message["payload"].get("data") is not None, message
            found.append(message["payload"]["data"]["memoryAdded"]["node"]["content"])
        return found


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1) + "/graphql"


@asynccontextmanager
async def socket_to(
    http_url: str,
    *,
    subprotocols: list[Subprotocol] | None = None,
    **options: Any,
) -> AsyncIterator[Socket]:
    async with connect(
        ws_url(http_url),
        subprotocols=[PROTOCOL] if subprotocols is None else subprotocols,
        open_timeout=WAIT_SECONDS,
        **options,
    ) as connection:
        yield Socket(connection)


class StalledSocket:
    """A graphql-transport-ws connection over a blocking socket with a tiny receive buffer,
    read only when the test says so: between reads the server's writes to it pile up, as to a
    client that stopped reading (websockets' own client reads on in the background)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(WAIT_SECONDS)
        self.sock.connect(("127.0.0.1", port))
        self.protocol = ClientProtocol(
            parse_uri(f"ws://127.0.0.1:{port}/graphql"), subprotocols=[PROTOCOL], max_size=None
        )
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        self.messages: list[dict[str, Any]] = []
        self._read_until(lambda: self.protocol.handshake_exc is not None or self._opened())

    def _opened(self) -> bool:
        return self.protocol.state is State.OPEN

    def _flush(self) -> None:
        self.sock.sendall(b"".join(self.protocol.data_to_send()))

    def _read_until(self, done: Callable[[], bool]) -> None:
        while not done():
            self.protocol.receive_data(self.sock.recv(65536))
            for event in self.protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    self.messages.append(json.loads(bytes(event.data)))

    def send(self, message: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        self._flush()

    def receive(self) -> dict[str, Any]:
        self._read_until(lambda: bool(self.messages))
        return self.messages.pop(0)

    def close(self) -> None:
        self.sock.close()
