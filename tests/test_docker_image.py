"""The Docker image is reproducible: it installs memql held to constraints.txt, which pins every
distribution that install brings in."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from tests.test_repository import dockerfile_instructions, image_files

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"


def canonical(name: str) -> str:
    """A distribution's name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins() -> dict[str, str]:
    """constraints.txt as {canonical name: version}; every line a comment or `name==version`."""
    pins: dict[str, str] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)", line)
        assert match is not None, f"not a pin: {line!r}"
        assert canonical(match[1]) not in pins, f"pinned twice: {line!r}"
        pins[canonical(match[1])] = match[2]
    return pins


def image_python() -> str:
    [base] = [
        arguments
        for keyword, arguments in dockerfile_instructions(ROOT / "Dockerfile")
        if keyword == "FROM"
    ]
    match = re.fullmatch(r"python:(\d+\.\d+)(\.\d+)?-slim", base)
    assert match is not None, base
    return match[1]


def test_the_image_installs_memql_held_to_the_lock() -> None:
    instructions = dockerfile_instructions(ROOT / "Dockerfile")
    _, copied = image_files(instructions)
    [(index, install)] = [
        (index, shlex.split(command))
        for index, (keyword, arguments) in enumerate(instructions)
        if keyword == "RUN"
        for command in arguments.split("&&")
        if shlex.split(command)[:2] == ["pip", "install"]
    ]
    constraint_options = [i for i, arg in enumerate(install) if arg in ("-c", "--constraint")]
    assert [install[i + 1] for i in constraint_options] == ["constraints.txt"]
    assert copied["constraints.txt"] < index
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line]
    assert not any(fnmatch("constraints.txt", rule) for rule in ignored)
    # Resolved on the image's Python, and refreshed by the script the header names.
    header = LOCK.read_text(encoding="utf-8")
    assert f"on Python {image_python()}, tested with the whole test suite" in header
    assert "python3 scripts/lock_constraints.py" in header
    assert (ROOT / "scripts" / "lock_constraints.py").exists()
    assert "memql" not in lock_pins() and len(lock_pins()) > 20


@pytest.mark.slow
@pytest.mark.skipif(
    f"{sys.version_info.major}.{sys.version_info.minor}" != image_python(),
    reason="the lock is for the image's Python",
)
def test_the_lock_pins_every_distribution_the_images_install_brings_in(tmp_path: Path) -> None:
    """pip resolves the image's `pip install -c constraints.txt .` as in an empty environment:
    what it would install is exactly what the lock pins, at the pinned versions."""
    report = tmp_path / "report.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(report),
            "-c",
            str(LOCK),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    resolved = {
        canonical(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert (
        resolved.pop("memql")
        == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    )
    assert resolved == lock_pins()
