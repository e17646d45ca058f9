"""`python -m bench.fields`: what one field of a GraphQL response costs, by layer.

Each GraphQL case runs in-process (the benchmark's app over httpx's ASGI transport, seeded with
1,000 memories): first timed alone (the mean time of a request, unprofiled), then while
pyinstrument samples the event loop's thread every millisecond. A sample is charged to the
layer of the innermost frame that has a source file (a built-in such as `dict` counts for the
code that called it); each layer's share of the samples, times the unprofiled time of a request,
divided by the fields a response holds (every key of its `data`: one field resolved), is its
cost per field.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import time
from typing import Any

import httpx
from pyinstrument import Profiler
from starlette.applications import Starlette

from bench.cases import Case, cases
from bench.seed import Sizes
from bench.server import CountCalls, bench_app

LAYERS = (
    ("graphql-core", ("/graphql/",)),
    ("Strawberry", ("/strawberry/",)),
    ("memql GraphQL layer (schema/)", ("/schema/",)),
    ("memql store and web (app/)", ("/app/",)),
    ("embedded store (mongomock, bson)", ("/mongomock", "/bson/", "/pymongo/")),
    ("HTTP and JSON (Starlette, httpx, json)", ("/starlette/", "/httpx", "/json/", "/anyio/")),
)
SIZES = Sizes(users=100, sessions=1000, memories=1000)


def layer_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        _, _, rest = frame.partition("\x00")
        path = rest.partition("\x00")[0]
        if not path or path.startswith("<"):
            continue  # a built-in: charged to its caller
        for name, markers in LAYERS:
            if any(marker in path for marker in markers):
                return name
        return "other (asyncio, Python)"
    return "other (asyncio, Python)"


def field_count(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(field_count(item) for item in value.values())
    if isinstance(value, list):
        return sum(field_count(item) for item in value)
    return 0


async def per_field(case: Case, requests: int) -> tuple[int, dict[str, float]]:
    """The fields of one response, and µs per field of each layer."""
    app = bench_app(SIZES)
    assert isinstance(app, CountCalls) and isinstance(app.app, Starlette)
    async with app.app.router.lifespan_context(app.app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            call = case.graphql[0]

            async def send() -> Any:
                response = await client.request(
                    call.method,
                    call.path,
                    content=call.body,
                    headers={"content-type": "application/json"},
                )
                response.raise_for_status()
                return json.loads(response.content)

            fields = field_count((await send())["data"])
            for _ in range(20):
                await send()
            started = time.perf_counter()
            for _ in range(requests):
                await send()
            per_request = (time.perf_counter() - started) / requests
            profiler = Profiler(interval=0.001, async_mode="disabled")
            profiler.start()
            for _ in range(requests):
                await send()
            profiler.stop()
    session = profiler.last_session
    assert session is not None
    totals: dict[str, float] = collections.defaultdict(float)
    for stack, seconds in session.frame_records:
        totals[layer_of(stack)] += seconds
    sampled = sum(totals.values())
    return fields, {
        name: seconds / sampled * per_request / fields * 1e6
        for name, seconds in sorted(totals.items(), key=lambda item: -item[1])
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fields")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    for case in cases(SIZES):
        if case.name.startswith("addMemory") or case.name.startswith("sessions"):
            continue
        fields, layers = asyncio.run(per_field(case, args.requests))
        print(f"`{case.name}`: {fields} fields a response, {args.requests} requests")
        print()
        print("| layer | µs per field |")
        print("|---|---:|")
        for name, micros in layers.items():
            print(f"| {name} | {micros:.2f} |")
        print(f"| total | {sum(layers.values()):.2f} |")
        print()


if __name__ == "__main__":
    main()
