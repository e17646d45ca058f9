"""The benchmark cannot rot: `python -m bench --quick` runs on tiny data and prints its three
tables with a number in every cell (the numbers themselves are bench/README.md's business)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import MAIN_HEADER, SCALING_HEADER, SNAPSHOT_HEADER

ROOT = Path(__file__).resolve().parent.parent
CASES = [
    "`sessions(first: 50)`",
    "`session { memories(last: 50) }`",
    "`users { sessions { user memories { session } } }`",
    "`addMemory (5 memories)`",
]
NUMBER = re.compile(r"^[\d,]+(\.\d+)?x?$")


def tables(output: str) -> list[list[list[str]]]:
    """The Markdown tables of the output, as rows of cells, header rows included."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*output.splitlines(), ""]:
        if line.startswith("|"):
            if not set(line) <= set("|-: "):
                current.append([cell.strip() for cell in line.strip("|").split("|")])
        elif current:
            found.append(current)
            current = []
    return found


@pytest.mark.slow
def test_quick_benchmark_prints_every_table_with_numbers() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--users=2",
            "--sessions=4",
            "--memories=40",
            "--concurrency=2",
            "--duration=0.2",
            "--warmup=0.05",
            "--scaling=20,60",
            "--scaling-duration=0.1",
            "--snapshots=30,90",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    main, scaling, snapshots = tables(result.stdout)
    assert main[0] == MAIN_HEADER
    assert [row[0] for row in main[1:]] == CASES
    assert scaling[0] == SCALING_HEADER
    assert [row[0] for row in scaling[1:]] == ["20", "60"]
    assert snapshots[0] == SNAPSHOT_HEADER
    assert [row[0] for row in snapshots[1:]] == ["30", "90"]
    for row in main[1:] + scaling[1:] + snapshots[1:]:
        assert all(NUMBER.match(cell) for cell in row[1:]), row
    calls = {row[0]: row[MAIN_HEADER.index("db calls/req")] for row in main[1:]}
    # The nested query: one call for each level (users, sessions, memories).
    assert calls["`users { sessions { user memories { session } } }`"] == "3"
