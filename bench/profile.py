"""`python -m bench.profile CASE`: where one case's time goes, with pyinstrument, in-process on
the benchmark's app (no HTTP server; the same app, store and data as `python -m bench`)."""

from __future__ import annotations

import argparse
import asyncio

import httpx
from pyinstrument import Profiler
from starlette.applications import Starlette

from bench.cases import cases
from bench.seed import Sizes
from bench.server import CountCalls, bench_app

DEFAULT = Sizes()


async def profile(case_name: str, sizes: Sizes, requests: int, *, floor: bool, flat: bool) -> str:
    (case,) = [case for case in cases(sizes) if case_name in case.name]
    calls = case.floor if floor else case.graphql
    app = bench_app(sizes)
    assert isinstance(app, CountCalls) and isinstance(app.app, Starlette)
    async with app.app.router.lifespan_context(app.app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def send(turn: int) -> None:
                call = calls[turn % len(calls)]
                response = await client.request(
                    call.method,
                    call.path,
                    content=call.body,
                    headers={"content-type": "application/json"},
                )
                response.raise_for_status()

            for turn in range(10):
                await send(turn)
            # CPU samples of the event loop's thread, not time spent awaiting: the requests run
            # one after another, so the samples are this case's own work.
            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
            for turn in range(requests):
                await send(turn)
            profiler.stop()
    return profiler.output_text(unicode=False, color=False, flat=flat)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("case", help="part of a case's name, e.g. 'users' or 'memories(last'")
    parser.add_argument("--users", type=int, default=DEFAULT.users)
    parser.add_argument("--sessions", type=int, default=DEFAULT.sessions)
    parser.add_argument("--memories", type=int, default=DEFAULT.memories)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--floor", action="store_true", help="profile the REST floor's route")
    parser.add_argument("--flat", action="store_true", help="functions by own time, no tree")
    args = parser.parse_args()
    sizes = Sizes(args.users, args.sessions, args.memories)
    print(asyncio.run(profile(args.case, sizes, args.requests, floor=args.floor, flat=args.flat)))


if __name__ == "__main__":
    main()
