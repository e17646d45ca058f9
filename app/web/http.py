"""The Starlette application: `/graphql` (GraphQL over HTTP, and memql's own GraphiQL page),
health probes, and the lifespan that opens and closes the database (and runs the embedded
store's purge sweeper)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from app.auth import OPEN, Viewer, authenticate
from app.db import Database
from app.errors import BadUserInput, InternalServerError, Unauthenticated
from app.logs import configure_logging
from app.settings import Settings, load_settings
from app.store import Store
from app.sweeper import Sweeper
from app.web.error_responses import ErrorResponse
from app.web.middleware import BodyLimitMiddleware, InternalErrorMiddleware, RequestLogMiddleware
from app.web.playground import Playground, load_playground
from schema import build_schema
from schema.context import Context
from schema.errors import coded_errors, is_request_error, is_unexpected

logger = logging.getLogger("memql.http")

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


def negotiate(accept: str | None) -> str:
    """The response media type: GraphQL over HTTP's own when the client prefers it, else JSON
    (also for `*/*` and a missing Accept header, as the spec asks for compatibility)."""
    best, best_q = JSON, 0.0
    for part in (accept or "").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media in (JSON, GRAPHQL_RESPONSE) and q > best_q:
            best, best_q = media, q
        elif media == GRAPHQL_RESPONSE and q == best_q and q > 0:
            best = media
    return best


class MemqlGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view, with authentication, GraphQL-over-HTTP status codes and media
    types, coded errors, and JSON bodies for HTTP-level errors."""

    def __init__(self, settings: Settings, playground: Playground | None) -> None:
        super().__init__(build_schema(settings), graphql_ide="graphiql" if playground else None)
        self.settings = settings
        self.playground = playground

    async def render_graphql_ide(self, request: Request) -> Response:
        assert self.playground is not None  # Strawberry asks only when graphql_ide is set.
        return self.playground.page(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await Response(status_code=404)(scope, receive, send)
            return
        request = Request(scope, receive=receive)
        media_type = negotiate(request.headers.get("accept"))
        request.state.media_type = media_type
        try:
            request.state.viewer = self.viewer_of(request)
            response = await self.run(request)
        except Unauthenticated as exc:
            response = ErrorResponse(
                exc,
                status_code=401,
                media_type=media_type,
                headers={"WWW-Authenticate": 'Bearer realm="memql"'},
            )
        except HTTPException as exc:
            response = ErrorResponse(
                BadUserInput(exc.reason),
                status_code=exc.status_code,
                media_type=media_type,
                headers={"Allow": "GET, POST"} if exc.status_code == 405 else None,
            )
        await response(scope, receive, send)

    def viewer_of(self, request: Request) -> Viewer:
        secret = self.settings.auth_secret
        if secret is None:
            return OPEN
        if self.graphql_ide and self.should_render_graphql_ide(self.request_adapter_class(request)):
            return OPEN  # the playground page itself is public; its requests carry the token
        return authenticate(request.headers.get("authorization"), secret.get_secret_value())

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        assert isinstance(request, Request)
        store: Store = request.app.state.store
        return Context(
            store=store.for_viewer(request.state.viewer),
            settings=self.settings,
            request_id=request_id_of(request),
            request=request,
        )

    def decode_json(self, data: str | bytes) -> object:
        try:
            return json.loads(data)
        except UnicodeDecodeError as exc:
            raise HTTPException(400, "the request body is not valid UTF-8") from exc
        except RecursionError as exc:
            raise HTTPException(400, "the request body nests too deeply") from exc
        except json.JSONDecodeError:
            raise  # Strawberry answers it with a 400 of its own
        except ValueError as exc:
            # Python refuses to read an integer of more than sys.get_int_max_str_digits() digits.
            raise HTTPException(400, "the JSON has a number with too many digits") from exc

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        try:
            parsed = await super().parse_http_body(request)
        except AttributeError as exc:
            # Strawberry calls `.get` on whatever JSON arrived: `null`, `5` or `"x"` end here.
            raise HTTPException(
                400, "the request body must be a JSON object with a `query` string"
            ) from exc
        for data in parsed if isinstance(parsed, list) else [parsed]:
            if not isinstance(data.operation_name, str | None):
                raise HTTPException(400, "`operationName` must be a string or null, if provided")
        return parsed

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as exc:
            if isinstance(exc.__cause__, InvalidOperationTypeError):
                raise HTTPException(405, "mutations are only accepted over POST") from exc
            raise
        finally:
            request.state.operation_name = context.operation_name

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        request_error = is_request_error(result)
        internal = any(is_unexpected(error) for error in result.errors or ())
        if result.errors:
            result.errors = coded_errors(result.errors, request_id_of(request))
        body = process_result(result)
        if request_error:
            # The GraphQL spec: no `data` entry when the request failed before execution;
            # GraphQL over HTTP: 400 for such failures, for clients of its own media type (500
            # when memql itself failed, an extension say: the request is not at fault).
            body.pop("data", None)
            if request.state.media_type == GRAPHQL_RESPONSE:
                request.state.sub_response.status_code = 500 if internal else 400
        return body

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        response = await super().get_sub_response(request)
        response.media_type = request.state.media_type
        request.state.sub_response = response
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        return Response(
            self.encode_json(response_data),
            status_code=sub_response.status_code or 200,
            media_type=sub_response.media_type or JSON,
        )


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
    return ErrorResponse(
        InternalServerError(f"Internal server error (request id {request_id})."),
        status_code=500,
        requestId=request_id,
    )


def create_app(settings: Settings | None = None, *, count_calls: bool = False) -> Starlette:
    """memql's ASGI app; `count_calls` makes the database count its calls (app.call_counting)."""
    settings = settings or load_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database.connect(settings, count_calls=count_calls)
        sweeper = None
        try:
            await db.ensure_indexes()
            app.state.store = Store(db)
            if db.embedded:
                sweeper = Sweeper(app.state.store, interval=settings.purge_interval_seconds)
                sweeper.start()
            app.state.sweeper = sweeper
            yield
        finally:
            if sweeper is not None:
                await sweeper.stop()
            db.close()

    # Outermost first. CORS wraps the body limit, so that a browser can read its 413 too, and
    # the innermost answers a route's unexpected exception, so that its 500 gets both headers
    # (the exception handler below remains for failures in the middleware itself).
    middleware = [Middleware(RequestLogMiddleware)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID"],
                allow_credentials=False,
                max_age=600,
            )
        )
    middleware.append(Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes))
    middleware.append(Middleware(InternalErrorMiddleware, handler=internal_error))
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
