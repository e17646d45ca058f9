"""`python -m bench`: seed, serve, drive and print the tables; `--help` lists the flags."""

from __future__ import annotations

import argparse
import asyncio

from bench.run import Options, run
from bench.seed import Sizes


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark memql's GraphQL API against a plain Starlette route (the REST "
        "floor) over HTTP, on the embedded store (or on MongoDB: --mongodb-url).",
    )
    parser.add_argument("--users", type=int, default=Sizes.users)
    parser.add_argument("--sessions", type=int, default=Sizes.sessions)
    parser.add_argument("--memories", type=int, default=Sizes.memories)
    parser.add_argument(
        "--rounds", type=int, help="alternating rounds per case, at least 5 (9; --quick: 5)"
    )
    parser.add_argument(
        "--block",
        type=float,
        help="seconds per route and round, the routes alternating request by request"
        " (1; --quick: 0.1)",
    )
    parser.add_argument(
        "--concurrency", default="1,2", help="clients at once, comma-separated runs (1,2)"
    )
    parser.add_argument(
        "--scaling",
        default="1000,10000,100000",
        help="memories stored for each row of the scaling table, comma-separated",
    )
    parser.add_argument(
        "--snapshots",
        help="memories stored for each row of the snapshot table, comma-separated "
        "(20000,100000; --quick: 2000,10000; empty: none)",
    )
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per route (1)")
    parser.add_argument(
        "--live-samples", type=int, help="addMemory calls timed to their subscriber event (200)"
    )
    parser.add_argument(
        "--idle-subscriptions", type=int, help="idle subscriptions whose cost is measured (1000)"
    )
    parser.add_argument(
        "--compare",
        metavar="REF",
        help="also measure a git ref of this repository (its own server), in the same rounds",
    )
    parser.add_argument(
        "--mongodb-url",
        help="run on this MongoDB instead of the embedded store: each server seeds a database"
        " of its own and drops it (the snapshot table is the embedded store's: leave it out)",
    )
    parser.add_argument(
        "--soak",
        type=float,
        help="seconds of the soak (bench/soak.py): writers, readers and live subscribers at once"
        " on a growing store, by 30 s windows (240; --quick: 0, none)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short runs, for a check in under two minutes"
    )
    return parser.parse_args(argv)


def options_of(args: argparse.Namespace) -> Options:
    quick = args.quick

    def pick(value: float | None, full: float, short: float) -> float:
        return value if value is not None else short if quick else full

    rounds = int(pick(args.rounds, 9, 5))
    block = pick(args.block, 1.0, 0.1)
    if rounds < 5 or block <= 0:
        raise SystemExit("--rounds must be at least 5 and --block more than 0 s")
    return Options(
        sizes=Sizes(args.users, args.sessions, args.memories),
        rounds=rounds,
        block=block,
        concurrencies=tuple(int(count) for count in args.concurrency.split(",") if count),
        scaling=sizes_of(args.scaling),
        warmup=pick(args.warmup, 1.0, 0.3),
        live_samples=int(pick(args.live_samples, 200, 50)),
        idle_subscriptions=int(pick(args.idle_subscriptions, 1000, 1000)),
        compare=args.compare,
        soak_seconds=pick(args.soak, 240.0, 0.0),
        mongodb_url=args.mongodb_url,
        snapshots=sizes_of(
            args.snapshots
            if args.snapshots is not None
            else "2000,10000"
            if quick
            else "20000,100000"
        ),
    )


def sizes_of(text: str) -> tuple[int, ...]:
    return tuple(int(size) for size in text.split(",") if size.strip())


def main(argv: list[str] | None = None) -> None:
    print(asyncio.run(run(options_of(parse(argv)))))


if __name__ == "__main__":
    main()
