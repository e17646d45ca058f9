"""The Starlette application: `/graphql`, health probes, request ids, and the lifespan that
opens and closes the database (and runs the embedded store's purge sweeper)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.types import ExecutionResult

from app.db import Database
from app.logs import configure_logging
from app.playground import Playground, load_playground
from app.purge import Sweeper
from app.settings import Settings, load_settings
from app.store import Store
from schema import build_schema
from schema.context import Context
from schema.errors import coded_errors

logger = logging.getLogger("memql.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def error_body(message: str, code: str, **extensions: str) -> dict[str, object]:
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


class RequestIdMiddleware:
    """Gives each request an id (the client's X-Request-ID when sane) for logs and errors."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        if result.errors:
            result.errors = coded_errors(result.errors, request_id_of(request))
        return process_result(result)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append(
                    (b"x-request-id", request_id.encode("latin-1"))
                )
            await send(message)

        await self.app(scope, receive, send_with_id)


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


class MemqlGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with memql's context, JSON bodies for HTTP-level errors and
    memql's own GraphiQL page."""

    def __init__(self, settings: Settings, playground: Playground | None) -> None:
        super().__init__(build_schema(), graphql_ide="graphiql" if playground else None)
        self.settings = settings
        self.playground = playground

    async def render_graphql_ide(self, request: Request) -> Response:
        assert self.playground is not None  # Strawberry asks only when graphql_ide is set.
        return self.playground.page(request)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        assert isinstance(request, Request)
        return Context(
            store=request.app.state.store,
            settings=self.settings,
            request_id=request_id_of(request),
            request=request,
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        if result.errors:
            result.errors = coded_errors(result.errors, request_id_of(request))
        return process_result(result)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await Response(status_code=404)(scope, receive, send)
            return
        request = Request(scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as exc:
            response = JSONResponse(
                error_body(exc.reason, "BAD_USER_INPUT"),
                status_code=exc.status_code,
                headers={"Allow": "GET, POST"} if exc.status_code == 405 else None,
            )
        await response(scope, receive, send)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    store: Store = request.app.state.store
    if await store.db.ping():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "unavailable"}, status_code=503)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = request_id_of(request)
    logger.error("unhandled error in request %s", request_id, exc_info=exc)
    return JSONResponse(
        error_body(
            f"Internal server error (request id {request_id}).",
            "INTERNAL_SERVER_ERROR",
            requestId=request_id,
        ),
        status_code=500,
    )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database.connect(settings)
        sweeper = None
        try:
            await db.ensure_indexes()
            app.state.store = Store(db)
            if db.embedded:
                sweeper = Sweeper(db, interval=settings.purge_interval_seconds)
                sweeper.start()
            app.state.sweeper = sweeper
            yield
        finally:
            if sweeper is not None:
                await sweeper.stop()
            db.close()

    middleware = [Middleware(RequestIdMiddleware)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
                allow_credentials=False,
            )
        )
    playground = load_playground() if settings.graphiql else None
    routes: list[BaseRoute] = [
        Route("/graphql", MemqlGraphQL(settings, playground)),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    if playground:
        routes.append(playground.route())
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app
