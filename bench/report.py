"""Statistics of the samples and the tables the benchmark prints (Markdown, for the README)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.client import Samples
from bench.snapshots import SnapshotRow


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (seconds), in milliseconds."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index] * 1000


@dataclass(frozen=True)
class Row:
    case: str
    p50: float
    p99: float
    per_second: float
    calls: float
    floor_p50: float
    floor_calls: float
    requests: int

    @classmethod
    def of(cls, case: str, graphql: Samples, floor: Samples) -> Row:
        return cls(
            case=case,
            p50=percentile(graphql.latencies, 0.50),
            p99=percentile(graphql.latencies, 0.99),
            per_second=len(graphql.latencies) / graphql.elapsed,
            calls=statistics.median(graphql.calls),
            floor_p50=percentile(floor.latencies, 0.50),
            floor_calls=statistics.median(floor.calls),
            requests=len(graphql.latencies),
        )

    @property
    def ratio(self) -> float:
        return self.p50 / self.floor_p50

    @property
    def overhead(self) -> float:
        return self.p50 - self.floor_p50


@dataclass(frozen=True)
class ScalingRow:
    memories: int
    p50: float
    floor_p50: float

    @classmethod
    def of(cls, memories: int, graphql: Samples, floor: Samples) -> ScalingRow:
        return cls(memories, percentile(graphql.latencies, 0.50), percentile(floor.latencies, 0.50))


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
    "p50 ms",
    "p99 ms",
    "req/s",
    "db calls/req",
    "floor p50 ms",
    "floor db calls",
    "p50 / floor",
    "GraphQL overhead ms",
]


def main_table(rows: list[Row]) -> str:
    return table(
        MAIN_HEADER,
        [
            [
                f"`{row.case}`",
                f"{row.p50:.2f}",
                f"{row.p99:.2f}",
                f"{row.per_second:.0f}",
                f"{row.calls:g}",
                f"{row.floor_p50:.2f}",
                f"{row.floor_calls:g}",
                f"{row.ratio:.2f}x",
                f"{row.overhead:.2f}",
            ]
            for row in rows
        ],
    )


SCALING_HEADER = ["memories stored", "p50 ms", "floor p50 ms", "p50 / floor"]


def scaling_table(rows: list[ScalingRow]) -> str:
    return table(
        SCALING_HEADER,
        [
            [
                f"{row.memories:,}",
                f"{row.p50:.2f}",
                f"{row.floor_p50:.2f}",
                f"{row.p50 / row.floor_p50:.2f}x",
            ]
            for row in rows
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
