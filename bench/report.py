"""Statistics of the samples and the tables the benchmark prints (Markdown, for the README)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.client import Samples
from bench.live import LiveResult
from bench.snapshots import SnapshotRow


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (seconds), in milliseconds."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index] * 1000


def p50s(rounds: list[Samples]) -> list[float]:
    return [percentile(samples.latencies, 0.50) for samples in rounds]


def pooled(rounds: list[Samples]) -> Samples:
    every = Samples()
    for samples in rounds:
        every.add(samples)
    return every


@dataclass(frozen=True)
class Spread:
    """The median of per-round ratios, with the smallest and largest."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, numerators: list[float], denominators: list[float]) -> Spread:
        ratios = [a / b for a, b in zip(numerators, denominators, strict=True)]
        return cls(statistics.median(ratios), min(ratios), max(ratios))

    def __str__(self) -> str:
        return f"{self.median:.2f}x [{self.low:.2f}-{self.high:.2f}]"


@dataclass(frozen=True)
class Row:
    case: str
    clients: int
    p50: float
    p99: float
    per_second: float
    calls: float
    floor_p50: float
    floor_calls: float
    ratio: Spread
    requests: int

    @classmethod
    def of(cls, case: str, clients: int, graphql: list[Samples], floor: list[Samples]) -> Row:
        every, floor_every = pooled(graphql), pooled(floor)
        return cls(
            case=case,
            clients=clients,
            p50=percentile(every.latencies, 0.50),
            p99=percentile(every.latencies, 0.99),
            per_second=len(every.calls) / every.elapsed,
            calls=statistics.median(every.calls),
            floor_p50=percentile(floor_every.latencies, 0.50),
            floor_calls=statistics.median(floor_every.calls),
            ratio=Spread.of(p50s(graphql), p50s(floor)),
            requests=len(every.calls),
        )

    @property
    def overhead(self) -> float:
        return self.p50 - self.floor_p50


@dataclass(frozen=True)
class ComparedRow:
    case: str
    clients: int
    against: Spread
    """This checkout's GraphQL p50 over the other's, round by round."""
    ratio: Spread
    other_ratio: Spread

    @classmethod
    def of(
        cls,
        case: str,
        clients: int,
        graphql: list[Samples],
        floor: list[Samples],
        other_graphql: list[Samples],
        other_floor: list[Samples],
    ) -> ComparedRow:
        return cls(
            case,
            clients,
            Spread.of(p50s(graphql), p50s(other_graphql)),
            Spread.of(p50s(graphql), p50s(floor)),
            Spread.of(p50s(other_graphql), p50s(other_floor)),
        )


@dataclass(frozen=True)
class Started:
    """A benchmark server's start-up (seeding included) and its resident memory then."""

    seconds: float
    rss_bytes: int


@dataclass(frozen=True)
class ScalingRow:
    memories: int
    case: str
    p50: float
    floor_p50: float
    ratio: Spread
    started: Started
    reference_p50: float | None = None
    """The `--compare` checkout's GraphQL p50, measured in the same rounds."""
    reference_ratio: Spread | None = None
    reference_started: Started | None = None

    @classmethod
    def of(
        cls,
        memories: int,
        case: str,
        graphql: list[Samples],
        floor: list[Samples],
        reference: list[Samples] | None = None,
        *,
        started: Started,
        reference_started: Started | None = None,
    ) -> ScalingRow:
        return cls(
            memories,
            case,
            percentile(pooled(graphql).latencies, 0.50),
            percentile(pooled(floor).latencies, 0.50),
            Spread.of(p50s(graphql), p50s(floor)),
            started,
            None if reference is None else percentile(pooled(reference).latencies, 0.50),
            None if reference is None else Spread.of(p50s(graphql), p50s(reference)),
            reference_started,
        )


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        padded = [
            cell.ljust(width) if index == 0 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            "-" * (width + 1) + ("-" if index == 0 else ":") for index, width in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


MAIN_HEADER = [
    "case",
    "clients",
    "p50 ms",
    "p99 ms",
    "req/s",
    "db calls/req",
    "floor p50 ms",
    "floor db calls",
    "p50 / floor [min-max]",
    "GraphQL overhead ms",
]


def main_table(rows: list[Row]) -> str:
    return table(
        MAIN_HEADER,
        [
            [
                f"`{row.case}`",
                str(row.clients),
                f"{row.p50:.2f}",
                f"{row.p99:.2f}",
                f"{row.per_second:.0f}",
                f"{row.calls:g}",
                f"{row.floor_p50:.2f}",
                f"{row.floor_calls:g}",
                str(row.ratio),
                f"{row.overhead:.2f}",
            ]
            for row in rows
        ],
    )


COMPARED_HEADER = [
    "case",
    "clients",
    "p50 / other's p50",
    "p50 / floor",
    "other's p50 / its floor",
]


def compared_table(rows: list[ComparedRow]) -> str:
    return table(
        COMPARED_HEADER,
        [
            [
                f"`{row.case}`",
                str(row.clients),
                str(row.against),
                str(row.ratio),
                str(row.other_ratio),
            ]
            for row in rows
        ],
    )


SCALING_HEADER = [
    "memories stored",
    "case",
    "p50 ms",
    "floor p50 ms",
    "p50 / floor [min-max]",
    "start-up s",
    "bytes per memory",
]
COMPARED_SCALING_HEADER = [
    "other's p50 ms",
    "p50 / other's [min-max]",
    "other's start-up s",
    "other's bytes per memory",
]


def _per_memory(started: Started, memories: int) -> str:
    return f"{started.rss_bytes / memories:,.0f}" if memories else "-"


def scaling_table(rows: list[ScalingRow]) -> str:
    compared = any(row.reference_p50 is not None for row in rows)
    body = []
    for row in rows:
        cells = [
            f"{row.memories:,}",
            f"`{row.case}`",
            f"{row.p50:.2f}",
            f"{row.floor_p50:.2f}",
            str(row.ratio),
            f"{row.started.seconds:.1f}",
            _per_memory(row.started, row.memories),
        ]
        if compared:
            reference = row.reference_started
            cells += [
                "-" if row.reference_p50 is None else f"{row.reference_p50:.2f}",
                str(row.reference_ratio or "-"),
                "-" if reference is None else f"{reference.seconds:.1f}",
                "-" if reference is None else _per_memory(reference, row.memories),
            ]
        body.append(cells)
    return table(SCALING_HEADER + (COMPARED_SCALING_HEADER if compared else []), body)


LIVE_HEADER = [
    "case",
    "p50 ms",
    "p99 ms",
    "events before the response",
    "idle subscriptions",
    "KiB per subscription",
    "fan-out to all ms",
]


def live_table(result: LiveResult) -> str:
    """Latency from `addMemory`'s response to the subscriber's event, and the idle cost."""
    early = sum(1 for latency in result.latencies if latency < 0) / len(result.latencies)
    return table(
        LIVE_HEADER,
        [
            [
                "`memoryAdded` (1 subscriber)",
                f"{percentile(result.latencies, 0.50):.2f}",
                f"{percentile(result.latencies, 0.99):.2f}",
                f"{early:.0%}",
                f"{result.idle:,}",
                f"{result.bytes_per_subscription / 1024:.1f}",
                f"{result.fan_out * 1000:.2f}",
            ]
        ],
    )


SNAPSHOT_HEADER = [
    "memories stored",
    "documents",
    "event loop ms",
    "longest loop stall ms",
    "writes held ms",
    "encode (thread) ms",
    "write + fsync (thread) ms",
    "file MB",
    "restore s",
]


def snapshot_table(rows: list[SnapshotRow]) -> str:
    return table(
        SNAPSHOT_HEADER,
        [
            [
                f"{row.memories:,}",
                f"{row.cost.documents:,}",
                f"{row.cost.loop_seconds * 1000:.1f}",
                f"{row.longest_stall * 1000:.1f}",
                f"{row.cost.held_seconds * 1000:.0f}",
                f"{row.cost.encode_seconds * 1000:.0f}",
                f"{row.cost.write_seconds * 1000:.0f}",
                f"{row.cost.bytes / 1_000_000:.1f}",
                f"{row.restore_seconds:.1f}",
            ]
            for row in rows
        ],
    )
