"""The Starlette application: `/graphql` (GraphQL over HTTP and over WebSocket, and memql's own
GraphiQL page), Zep's REST API at `/zep`, health probes, and the lifespan that opens and closes
the database: on the embedded store it restores its snapshot and runs its purge sweeper and
snapshots, on MongoDB the change feed of live updates."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from app.db import Database
from app.errors import InternalServerError, NotFound
from app.logs import configure_logging
from app.persistence.collection_pauses import Freezer
from app.persistence.snapshots import Snapshots
from app.settings import Settings, load_settings
from app.startup import Readiness, open_database
from app.store import Store
from app.store.change_feed import ChangeFeed
from app.sweeper import Sweeper
from app.web.error_responses import error_response
from app.web.graphql_over_http import GraphQLOverHTTP
from app.web.graphql_over_ws import GraphQLOverWebSocket
from app.web.middleware import (
    BodyLimitMiddleware,
    CrossSiteWriteMiddleware,
    HeadLimitMiddleware,
    InternalErrorMiddleware,
    RequestLogMiddleware,
    request_id_of,
)
from app.web.playground import load_playground
from app.web.zep import under_mount
from app.web.zep.errors import NOT_FOUND_TEXT, zep_error
from app.web.zep.routes import ZepAPI
from app.web.zep.version import ZepVersionHeader

logger = logging.getLogger("memql.http")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
"""Host names that always reach memql: how a browser on the same machine names it."""


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """200 once the database answers and its indexes are built, else 503 with the reasons;
    `warnings` lists what an operator should fix while memql serves."""
    readiness: Readiness = request.app.state.readiness
    store: Store = request.app.state.store
    reasons = readiness.reasons
    if not reasons and (unreachable := await store.db.unreachable()):
        reasons.append(unreachable)
    body: dict[str, object] = {"status": "ready"}
    if reasons:
        body = {"status": "unavailable", "reasons": reasons}
    if readiness.warnings:
        body["warnings"] = readiness.warnings
    return JSONResponse(body, status_code=503 if reasons else 200)


async def not_found(request: Request, exc: Exception) -> Response:
    """Zep's plain `not found` for a path under Zep's API, Starlette's answer elsewhere."""
    if under_mount(request.url.path):
        return zep_error(NotFound(NOT_FOUND_TEXT))
    return PlainTextResponse("Not Found", status_code=404)


async def internal_error(request: Request, exc: Exception) -> Response:
    request_id = request_id_of(request)
    logger.error("unhandled error in request %s", request_id, exc_info=exc)
    return error_response(
        request.scope,
        InternalServerError(f"Internal server error (request id {request_id})."),
        500,
        requestId=request_id,
    )


@asynccontextmanager
async def _serving(
    app: Starlette, db: Database, settings: Settings, snapshots: Snapshots | None
) -> AsyncIterator[None]:
    store = app.state.store = Store(db, subscription_buffer=settings.subscription_buffer)
    app.state.readiness = readiness = Readiness()
    # MongoDB may be down, or its index builds slow: the server answers meanwhile (/healthz,
    # and /readyz saying why it is not ready). The embedded store opens at once.
    opening = asyncio.create_task(open_database(db, readiness), name="memql-open-database")
    sweeper = None
    feed = None
    freezer = None
    try:
        if db.embedded:
            await opening
            sweeper = Sweeper(store, interval=settings.purge_interval_seconds, readiness=readiness)
            sweeper.start()
            freezer = Freezer(db.stored_documents)
            freezer.periodic.start()
        else:
            feed = ChangeFeed.of(
                db, store.broadcaster, poll_seconds=settings.live_poll_seconds, readiness=readiness
            )
            feed.start(opened=readiness.settled)
        if snapshots is not None:
            snapshots.start()
        app.state.sweeper = sweeper
        app.state.snapshots = snapshots
        yield
    finally:
        if feed is not None:
            await feed.stop()
        opening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await opening
        if sweeper is not None:
            await sweeper.stop()
        if freezer is not None:
            await freezer.periodic.stop()
        # Last, so that the final snapshot holds the sweeper's last purge too.
        if snapshots is not None:
            await snapshots.stop()


def create_app(settings: Settings | None = None, *, count_calls: bool = False) -> Starlette:
    """memql's ASGI app; `count_calls` makes the database count its calls (app.call_counting)."""
    settings = settings or load_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database.connect(settings, count_calls=count_calls)
        snapshots = None
        try:
            # The data on disk comes back before the indexes are made, the sweeper purges and
            # anyone is served.
            if settings.snapshot_dir is not None:
                snapshots = await Snapshots.open(
                    db, settings.snapshot_dir, interval=settings.snapshot_interval_seconds
                )
            async with _serving(app, db, settings, snapshots):
                yield
        finally:
            if snapshots is not None:
                snapshots.close()
            db.close()

    # Outermost first. CORS wraps the body limit, so that a browser can read its 413 too, and
    # the innermost answers a route's unexpected exception, so that its 500 gets both headers
    # (the exception handler below remains for failures in the middleware itself).
    middleware = [
        Middleware(RequestLogMiddleware),
        Middleware(HeadLimitMiddleware, max_bytes=settings.max_header_bytes),
    ]
    if settings.zep_api:
        middleware.append(Middleware(ZepVersionHeader))
    if not settings.auth_enabled:
        # Without tokens, a loopback-only server trusts whoever reaches it; a page on another
        # site could reach it through DNS rebinding (attacker.example resolving to 127.0.0.1),
        # but sends its own name as Host. 400 for any Host not named here.
        middleware.append(
            Middleware(
                TrustedHostMiddleware, allowed_hosts=[*LOOPBACK_HOSTS, *settings.allowed_hosts]
            )
        )
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                # Zep's REST API also updates (PATCH) and deletes.
                allow_methods=["GET", "POST", *(["PATCH", "DELETE"] if settings.zep_api else [])],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID"],
                allow_credentials=False,
                max_age=600,
            )
        )
    middleware.append(Middleware(CrossSiteWriteMiddleware, allowed_origins=settings.cors_origins))
    middleware.append(Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes))
    middleware.append(Middleware(InternalErrorMiddleware, handler=internal_error))
    playground = load_playground() if settings.graphiql else None
    over_http = GraphQLOverHTTP(settings, playground)
    routes: list[BaseRoute] = [
        Route("/graphql", over_http),
        WebSocketRoute("/graphql", GraphQLOverWebSocket(over_http.schema, settings)),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    if playground:
        routes.append(playground.route())
    if settings.zep_api:
        routes += ZepAPI(settings).mounts()
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: not_found, Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app
