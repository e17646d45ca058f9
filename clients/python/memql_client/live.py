"""Following a session's memories over GraphQL over WebSocket (graphql-transport-ws, the protocol
of the `graphql-ws` npm client), free of I/O: the messages to send, what each message received
means, and what a close code means. Both clients' `subscribe_memories` drive it.

A `MemoryFeed` remembers the cursor of the last memory it handed out, so that after a dropped
connection, or the server ending the subscription because it fell behind, it subscribes again
with `after:` that cursor and the consumer sees every memory once, in order.
"""

from __future__ import annotations

import enum
import itertools
import json
from collections.abc import Mapping
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from memql_client.errors import (
    MemqlError,
    UnauthenticatedError,
    UnexpectedResponseError,
    error_from_response,
)
from memql_client.models import JsonObject, Memory
from memql_client.operations import MEMORY_FIELDS

SUBPROTOCOL: Subprotocol = Subprotocol("graphql-transport-ws")
MEMORY_ADDED = (
    "subscription MemoryAdded($sessionId: String!, $after: String) {"
    " memoryAdded(sessionId: $sessionId, after: $after) { cursor node { ...MemoryFields } } }"
    + MEMORY_FIELDS
)
SUBSCRIBER_TOO_SLOW = "SUBSCRIBER_TOO_SLOW"

# Close codes after which connecting again cannot help: the credentials were refused (4403),
# or client and server do not understand each other.
UNAUTHORIZED = frozenset({4401, 4403})
NOT_UNDERSTOOD = frozenset({1002, 1003, 1007, 1008, 1009, 1010, 4400, 4406, 4409, 4429})

RECONNECT_FIRST_SECONDS = 0.05
RECONNECT_MAX_SECONDS = 2.0
RECONNECT_ATTEMPTS = 10
"""Connections in a row that may fail before `subscribe_memories` gives up and raises."""


class Step(enum.Enum):
    """What a received message asks the driver to do besides handing out memories."""

    NOTHING = "nothing"
    RESUBSCRIBE = "resubscribe"
    PONG = "pong"
    DONE = "done"


def ws_url(url: str) -> str:
    """The WebSocket URL of a GraphQL endpoint's HTTP URL (the same path)."""
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if url.startswith(http):
            return ws + url[len(http) :]
    return url


class MemoryFeed:
    """One `subscribe_memories` call: its session, the cursor to resume from, and the id of its
    current subscription (each resubscription gets a new one)."""

    def __init__(self, session_id: str, after: str | None, token: str | None) -> None:
        self.session_id = session_id
        self.cursor = after
        self.token = token
        self._ids = itertools.count(1)
        self.id = ""

    def connection_init(self) -> str:
        payload = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return json.dumps({"type": "connection_init", "payload": payload})

    def acknowledged(self, text: str | bytes) -> None:
        message = _message(text)
        if message.get("type") != "connection_ack":
            raise UnexpectedResponseError(
                f"the server answered connection_init with {message.get('type')!r}, not "
                "connection_ack; is it memql's /graphql endpoint?"
            )

    def subscribe(self) -> str:
        self.id = str(next(self._ids))
        variables = {"sessionId": self.session_id, "after": self.cursor}
        return json.dumps(
            {
                "id": self.id,
                "type": "subscribe",
                "payload": {
                    "query": MEMORY_ADDED,
                    "operationName": "MemoryAdded",
                    "variables": variables,
                },
            }
        )

    def answer(self, step: Step) -> str:
        """The message a step sends: a new subscription from the cursor, or a pong."""
        if step is Step.RESUBSCRIBE:
            return self.subscribe()
        return json.dumps({"type": "pong"})

    def read(self, text: str | bytes) -> Memory | Step:
        """What a message means: a memory (its cursor is kept), or a step for the driver; the
        coded MemqlError of an error that ends the subscription."""
        message = _message(text)
        kind = message.get("type")
        if kind == "ping":
            return Step.PONG
        if message.get("id") != self.id:
            return Step.NOTHING  # a subscription given up already (its `complete`)
        if kind == "complete":
            return Step.DONE
        if kind == "error":
            raise _error(message.get("payload"))
        if kind != "next":
            return Step.NOTHING
        payload = message.get("payload")
        payload = payload if isinstance(payload, Mapping) else {}
        errors = payload.get("errors")
        if errors:
            error = _error(errors)
            resume_after = error.extensions.get("resumeAfter")
            if error.code == SUBSCRIBER_TOO_SLOW and isinstance(resume_after, str):
                self.cursor = resume_after
                return Step.RESUBSCRIBE
            raise error
        edge = payload["data"]["memoryAdded"]
        self.cursor = edge["cursor"]
        return Memory.from_graphql(edge["node"])

    @staticmethod
    def closed(code: int | None, reason: str | None) -> None:
        """The server closed the connection: raise when opening it again cannot help."""
        if code in UNAUTHORIZED:
            raise UnauthenticatedError(reason or "the server refused the token")
        if code in NOT_UNDERSTOOD:
            raise UnexpectedResponseError(
                f"the server closed the WebSocket with {code} ({reason or 'no reason given'})"
            )


def _message(text: str | bytes) -> JsonObject:
    try:
        message = json.loads(text)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        raise UnexpectedResponseError(f"the server sent a message that is no JSON object: {text!r}")
    return message


def _error(errors: Any) -> MemqlError:
    if not isinstance(errors, list) or not errors:
        return UnexpectedResponseError(f"the server sent an error without errors: {errors!r}")
    return error_from_response(errors, 200)


def failed(failures: int, failure: BaseException) -> int:
    """The count of connections failed in a row, once `failure` ended one; raises `failure`
    when the connection must not be opened again, or when too many failed in a row."""
    if isinstance(failure, ConnectionClosed):
        received = failure.rcvd
        MemoryFeed.closed(received.code if received else None, received.reason if received else "")
    if failures + 1 > RECONNECT_ATTEMPTS:
        raise failure
    return failures + 1


def reconnect_delay(failures: int) -> float:
    return float(min(RECONNECT_FIRST_SECONDS * 2 ** (failures - 1), RECONNECT_MAX_SECONDS))
