"""The benchmark's server (`python -m bench.server --port N`, uvicorn on 127.0.0.1 as `memql
serve`, `--host` included): memql's app, seeded at start-up, with the REST floor and each
response's database call count as a header."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.call_counting import counting_calls
from app.persistence.collection_pauses import freeze_stored_data
from app.settings import Settings
from app.web.http import create_app
from bench.floor import floor_routes
from bench.seed import Sizes, seed

CALLS_HEADER = "x-bench-database-calls"


class CountCalls:
    """Counts the database calls of each HTTP request and sends the count as a header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with counting_calls() as calls:

            async def send_with_count(message: Message) -> None:
                if message["type"] == "http.response.start":
                    header = (CALLS_HEADER.encode(), str(len(calls)).encode())
                    message.setdefault("headers", []).append(header)
                await send(message)

            await self.app(scope, receive, send_with_count)


def bench_app(sizes: Sizes) -> ASGIApp:
    # Defaults but for the embedded store's sweeper, which would scan every collection in the
    # middle of a run, its snapshots (bench/snapshots.py measures them on their own), and the
    # access log (one line per request), so that the run measures the API rather than log
    # writing.
    settings = Settings(
        _env_file=None,
        purge_interval_seconds=86_400,
        data_dir=None,
        log_level="WARNING",
    )
    app: Starlette = create_app(settings, count_calls=True)
    startup = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with startup(app):
            db = app.state.store.db
            await seed(app.state.store, sizes)
            if db.embedded:
                freeze_stored_data()  # as a start-up that restores a snapshot does
            yield
            if not db.embedded:  # the benchmark's own database (bench.run.bench_server)
                await db.client.drop_database(db.db.name)

    app.router.lifespan_context = lifespan
    app.router.routes.extend(floor_routes())
    return CountCalls(app)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", type=int, default=Sizes.users)
    parser.add_argument("--sessions", type=int, default=Sizes.sessions)
    parser.add_argument("--memories", type=int, default=Sizes.memories)
    args = parser.parse_args()
    sizes = Sizes(args.users, args.sessions, args.memories)
    uvicorn.run(
        bench_app(sizes), host=args.host, port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
