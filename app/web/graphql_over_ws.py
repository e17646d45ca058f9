"""GraphQL over WebSocket at /graphql: graphql-transport-ws (the protocol of the `graphql-ws` npm
client) with Strawberry's own view and handler. The legacy `graphql-ws` subprotocol is refused.

The token comes in `connection_init`'s payload (`{"Authorization": "Bearer …"}`) and is checked
by the same function as the HTTP header (app.web.callers); a bad one closes the socket with
4403, and the socket is closed with 4403 when the token expires. Pages on other origins connect
only when MEMQL_CORS_ORIGINS lets them call over HTTP; a message is at most as large as an HTTP
body may be (uvicorn's `ws_max_size`), and a connection runs at most
MEMQL_MAX_SUBSCRIPTIONS_PER_CONNECTION operations.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError, parse
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import (
    WebSocketDisconnected,
)
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message
from strawberry.types.unset import UNSET, UnsetType

from app.auth import Viewer
from app.errors import BadUserInput, MemqlError, QueryTooComplex, Unauthenticated
from app.settings import Settings
from app.store import Store
from app.web.callers import caller
from schema.build import MemqlSchema
from schema.context import Context
from schema.errors import as_graphql_error, is_token_limit_error
from schema.guards.limits import check_expansion
from schema.guards.walk import Expanded
from schema.operation_name import unchosen_operation

logger = logging.getLogger("memql.ws")

FORBIDDEN = 4403
"""graphql-transport-ws's close code for a connection whose credentials are refused."""
BAD_MESSAGE = 4400
MAX_CLOSE_REASON_BYTES = 123
"""What a close frame holds of a reason (RFC 6455: 125 bytes of payload, 2 for the code)."""


def fitted_reason(reason: str) -> str:
    """`reason`, cut to what a close frame holds (UTF-8, never inside a character)."""
    encoded = reason.encode()
    if len(encoded) <= MAX_CLOSE_REASON_BYTES:
        return reason
    return encoded[: MAX_CLOSE_REASON_BYTES - 3].decode(errors="ignore") + "..."


CHECKED_DOCUMENTS = 8
"""How many checked documents a connection keeps for the operations about to run them."""

CONNECTION_INIT_SECONDS = 10.0
"""How long a new socket may wait before its `connection_init`."""


class Connection:
    """One WebSocket connection: its `connection_init` payload (Strawberry sets
    `connection_params`), the viewer it proved, and a `Context` for each operation it runs."""

    def __init__(self, websocket: WebSocket, store: Store, settings: Settings) -> None:
        self.websocket = websocket
        self.store = store
        self.settings = settings
        self.connection_params: object = None
        self.viewer: Viewer | None = None
        self.id = uuid.uuid4().hex
        self._operations = itertools.count(1)
        self._expiry: asyncio.Task[None] | None = None
        self.checked: OrderedDict[str, Expanded] = OrderedDict()
        """The documents `refusal_of` parsed and expanded, by query text, the latest few: the
        operation that runs one walks that expansion (schema.guards.limits.FieldLimit)."""

    def for_operation(self, requested_operation_name: str | None, query: str | None) -> Context:
        if self.viewer is None:  # pragma: no cover - Strawberry runs nothing before the ack
            raise Unauthenticated("send connection_init with your token first")
        expanded = self.checked.get(query) if query is not None else None
        return Context(
            store=self.store.for_viewer(self.viewer),
            settings=self.settings,
            request_id=f"{self.id}-{next(self._operations)}",
            requested_operation_name=requested_operation_name,
            checked=(query, expanded) if query is not None and expanded is not None else None,
        )

    def keep_checked(self, query: str, expanded: Expanded) -> None:
        self.checked[query] = expanded
        self.checked.move_to_end(query)
        while len(self.checked) > CHECKED_DOCUMENTS:
            self.checked.popitem(last=False)

    def admit(self, viewer: Viewer) -> None:
        """Let `viewer` in, and close the socket once its token expires."""
        self.viewer = viewer
        if viewer.expires_at is not None:
            self._expiry = asyncio.create_task(self._close_at(viewer.expires_at))

    async def _close_at(self, expires_at: datetime) -> None:
        await asyncio.sleep(max((expires_at - datetime.now(UTC)).total_seconds(), 0))
        if self.websocket.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.websocket.close(code=FORBIDDEN, reason="the token has expired")

    async def still_admitted(self) -> bool:
        """Whether the viewer may still run operations: a user deleted since the connection
        began has its tokens refused, as over HTTP (before the ack there is no viewer yet)."""
        if self.viewer is None:
            return True
        try:
            await self.store.admit(self.viewer)
        except Unauthenticated:
            return False
        return True

    def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()


def _bearer(connection_params: object) -> str | None:
    """The `Authorization` value of a connection_init payload, as graphql-ws clients send
    `connectionParams` (`authorization` too, as HTTP headers are read whatever their case)."""
    if not isinstance(connection_params, Mapping):
        return None
    for name in ("Authorization", "authorization"):
        value = connection_params.get(name)
        if isinstance(value, str):
            return value
    return None


class ClosingWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's ASGI adapter, with every close reason cut to what a close frame holds."""

    async def close(self, code: int, reason: str) -> None:
        """Every close, Strawberry's and memql's: a reason over a close frame's 123 bytes made
        the server fail with a traceback and drop the connection without a close code."""
        await super().close(code, fitted_reason(reason))


def _well_formed_subscribe(message: Mapping[str, Any]) -> bool:
    payload = message.get("payload")
    return (
        isinstance(message.get("id"), str)
        and isinstance(payload, dict)
        and isinstance(payload.get("query"), str)
        and isinstance(payload.get("variables"), dict | None)
        and isinstance(payload.get("operationName"), str | None)
        and isinstance(payload.get("extensions"), dict | None)
    )


class ConnectionHandler(BaseGraphQLTransportWSHandler[Connection, None]):
    """Strawberry's graphql-transport-ws handler, with a `subscribe` message checked before it
    reads it, the viewer admitted again for each operation, and the subscription limit answered
    as a coded error."""

    async def handle_message(self, message: Message) -> None:
        if message.get("type") == "subscribe" and not _well_formed_subscribe(message):
            await self.websocket.close(
                BAD_MESSAGE, "subscribe needs a string id and a payload with a string query"
            )
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: Any) -> None:
        if not await self.context.still_admitted():
            await self.websocket.close(FORBIDDEN, "the token's user was deleted")
            return
        if self.connection_acknowledged and (refusal := self.refusal_of(message["payload"])):
            await self.refuse(message["id"], refusal)
            return
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and limit is not None
            and len(self.operations) >= limit
            and message["id"] not in self.operations
        ):
            await self.refuse(
                message["id"],
                BadUserInput(
                    f"this connection runs {limit} operations already, the most it may "
                    "(MEMQL_MAX_SUBSCRIPTIONS_PER_CONNECTION): complete one first"
                ),
            )
            return
        await super().handle_subscribe(message)

    async def refuse(self, id: str, refusal: MemqlError | GraphQLError) -> None:
        """The operation `id` is refused with a coded `error` message; nothing runs."""
        if isinstance(refusal, MemqlError):
            refusal = as_graphql_error(refusal)
        await self.send_message({"id": id, "type": "error", "payload": [refusal.formatted]})

    def refusal_of(self, payload: Mapping[str, Any]) -> MemqlError | GraphQLError | None:
        """What GraphQL over HTTP refuses before running a document, refused here the same
        way: over the token limit or too large once its fragments are expanded (Strawberry's
        stream ended those with only `complete` and a traceback), or several operations and no
        operationName (it ran the first)."""
        settings = self.context.settings
        query = payload["query"]
        known = self.context.checked.get(query)
        if known is not None and known.document is not None:
            return unchosen_operation(known.document, payload.get("operationName"))
        try:
            document = parse(query, max_tokens=settings.max_tokens)
        except GraphQLSyntaxError as error:
            if is_token_limit_error(error):
                return QueryTooComplex(error.message)
            return None  # Strawberry answers a syntax error itself
        try:
            expanded = check_expansion(
                document, settings.max_fields, settings.max_overlapping_fields
            )
        except GraphQLError as error:
            return error
        self.context.keep_checked(query, expanded)
        return unchosen_operation(document, payload.get("operationName"))

    async def handle_task_exception(self, error: Exception) -> None:
        """A client that leaves while an operation is sending to it is one INFO line: Strawberry
        logged uvicorn's ClientDisconnected (and a send after the socket closed) as an ERROR
        with a traceback."""
        if isinstance(error, WebSocketDisconnected | WebSocketDisconnect) or (
            self.context.websocket.application_state == WebSocketState.DISCONNECTED
        ):
            logger.info(
                "WebSocket %s: the client left while an operation was sending (%s)",
                self.context.id,
                type(error).__name__,
            )
            return
        await super().handle_task_exception(error)

    async def shutdown(self) -> None:
        self.context.close()
        await super().shutdown()


class GraphQLOverWebSocket(GraphQL[Connection, None]):
    """The /graphql WebSocket endpoint."""

    graphql_transport_ws_handler_class = ConnectionHandler
    websocket_adapter_class = ClosingWebSocketAdapter

    def __init__(self, schema: MemqlSchema, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=CONNECTION_INIT_SECONDS),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            # As CORS lets pages on these origins call over HTTP (same-origin pages always may).
            allowed_origins=settings.cors_origins,
        )
        self.settings = settings

    def decode_json(self, data: str | bytes) -> object:
        """A message as Strawberry's handler reads it, or the JSONDecodeError it answers with
        close 4400: for anything but a JSON object (the handler would fail on it with a
        traceback), and for JSON Python will not read (nested too deep, an integer too
        long). uvicorn caps a message's size before this (`ws_max_size`: app/web/serving.py),
        closing with 1009."""
        try:
            message = json.loads(data)
        except (ValueError, RecursionError) as error:
            raise json.JSONDecodeError(str(error), "", 0) from None
        if not isinstance(message, dict):
            raise json.JSONDecodeError("a message must be a JSON object", "", 0)
        return message

    async def get_context(self, request: Any, response: Any) -> Connection:
        return Connection(request, request.app.state.store, self.settings)

    async def on_ws_connect(self, context: Connection) -> UnsetType | dict[str, object] | None:
        try:
            viewer = await caller(_bearer(context.connection_params), self.settings, context.store)
        except Unauthenticated as refusal:
            logger.info("WebSocket %s refused: %s", context.id, refusal.message)
            raise ConnectionRejectionError({"message": refusal.message}) from None
        context.admit(viewer)
        acknowledged: UnsetType = UNSET
        return acknowledged
