"""ASGI middleware: request ids with one access-log line per request, the body size limit, and
the innermost answer to an unexpected exception."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import BadUserInput, Forbidden
from app.web.error_responses import error_response

access_log = logging.getLogger("memql.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# nginx's status for a request whose client went away before it could be answered.
CLIENT_CLOSED_REQUEST = 499
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
MAX_LOGGED_OPERATION_NAME = 100


def request_id_of(request: Request) -> str:
    """The id RequestLogMiddleware gave the request."""
    return str(getattr(request.state, "request_id", "-"))


def loggable_operation_name(name: object) -> str:
    """The operation name as the access log shows it: a GraphQL name (so no control character
    can forge a line), cut to 100 characters; `-` for anything else."""
    if not isinstance(name, str):
        return "-"
    name = name[:MAX_LOGGED_OPERATION_NAME]
    return name if _GRAPHQL_NAME.fullmatch(name) else "-"


class RequestLogMiddleware:
    """Gives each request an id (the client's X-Request-ID when sane), returns it in a header,
    and logs one line per request: method, path, operation, status, duration, request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        supplied = Headers(scope=scope).get("x-request-id", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append(
                    (b"x-request-id", request_id.encode("latin-1"))
                )
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
            if state.get("client_disconnected"):
                status = CLIENT_CLOSED_REQUEST
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            operation = loggable_operation_name(state.get("operation_name"))
            access_log.info(
                "%s %s %s %s %.2fms id=%s",
                scope["method"],
                scope["path"],
                operation,
                status,
                duration_ms,
                request_id,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "operation": operation,
                    "status": status,
                    "duration_ms": duration_ms,
                    "request_id": request_id,
                },
            )


class InternalErrorMiddleware:
    """Answers an exception that escapes a route, innermost, with `handler`'s response.

    Starlette answers it in ServerErrorMiddleware, outside every other middleware: that 500 would
    lack the X-Request-ID and CORS headers, so a browser would see a CORS failure, not the error.
    Answered here, it passes through them like any other response. A client that went away gets
    no answer; an exception after the response started is re-raised (nothing can be sent then).
    """

    def __init__(
        self, app: ASGIApp, handler: Callable[[Request, Exception], Awaitable[Response]]
    ) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def send_watched(message: Message) -> None:
            nonlocal response_started
            response_started |= message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        except ClientDisconnect:
            # Nobody is left to answer: logged as 499 (RequestLogMiddleware), not as an error.
            scope.setdefault("state", {})["client_disconnected"] = True
        except Exception as exc:
            if response_started:
                raise
            response = await self.handler(Request(scope, receive), exc)
            await response(scope, receive, send)


class HeadLimitMiddleware:
    """Answers 431 to a request whose head (request line and headers) is over `max_bytes`.
    uvicorn's h11 limit (`h11_max_incomplete_event_size`) bounds only a head still arriving: one
    that arrives whole, in one write or the last of several, passes it whatever its size."""

    HEAD_TOO_LARGE = 431

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or head_size(scope) <= self.max_bytes:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1009})  # refused before the accept
            return
        refusal = BadUserInput(
            f"the request's headers are over the limit of {self.max_bytes} bytes "
            "(MEMQL_MAX_HEADER_BYTES)"
        )
        await error_response(scope, refusal, self.HEAD_TOO_LARGE)(scope, receive, send)


def head_size(scope: Scope) -> int:
    """The bytes of a request's head as sent: request line and header lines."""
    line = len(scope.get("method", "GET")) + len(scope.get("raw_path") or b"") + 12
    line += len(scope.get("query_string", b"")) + 1
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


class CrossSiteWriteMiddleware:
    """Answers 403 to a request that may change data (any method but GET, HEAD and OPTIONS)
    sent by a page on another origin: one whose `Origin` names neither the host it was sent to
    nor an origin of MEMQL_CORS_ORIGINS. A browser sends a "simple" cross-site POST (a
    `text/plain`, form or multipart body) without asking first, so a page anywhere could
    otherwise write to a memql on the visitor's machine, where no token is needed. Requests
    without `Origin` (servers, SDKs, curl, Node's fetch) are what they were. Memql's own origin
    is compared by host and port only: behind a TLS proxy the scheme memql sees differs."""

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app: ASGIApp, allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed_origins = frozenset(origin.rstrip("/") for origin in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in self.SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or self.admits(origin, headers.get("host", "")):
            await self.app(scope, receive, send)
            return
        refusal = Forbidden(
            f"a page on {origin[:200]!r} may not change data here: only memql's own origin and "
            "those of MEMQL_CORS_ORIGINS may"
        )
        await error_response(scope, refusal, 403)(scope, receive, send)

    def admits(self, origin: str, host: str) -> bool:
        if origin.rstrip("/") in self.allowed_origins or "*" in self.allowed_origins:
            return True
        scheme, separator, netloc = origin.partition("://")
        return bool(separator) and scheme in ("http", "https") and netloc.lower() == host.lower()


class BodyLimitMiddleware:
    """Answers 413 to a request body over `max_bytes`, before anything parses it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        # Read the body here (it is needed whole anyway), stopping as soon as it is too large,
        # then hand it to the app as it arrived.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                # The client went away before its body was whole: nobody is left to answer.
                scope.setdefault("state", {})["client_disconnected"] = True
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            scope,
            BadUserInput(f"the request body is over the limit of {self.max_bytes} bytes"),
            413,
        )
        await response(scope, receive, send)


def _replay(messages: list[Message], then: Receive) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return await then()

    return receive
