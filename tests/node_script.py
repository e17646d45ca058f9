"""Node scripts the tests run with npm packages they pin, installed once a version into
~/.cache/memql-tests (npm's registry is reached only the first time)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CACHE = Path.home() / ".cache" / "memql-tests"


def node_script(script: str, packages: list[str], purpose: str) -> tuple[str, Path]:
    """node, and tests/`script` copied into a folder where `packages` (`name@version`, the first
    naming the folder) are installed. Skips the test, saying it is needed to `purpose`, on a
    machine without node and npm."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(f"node and npm are needed to {purpose}")
    folder = CACHE / packages[0].replace("@", "-")
    names = [package.rpartition("@")[0] for package in packages]
    if not all((folder / "node_modules" / name).exists() for name in names):
        folder.mkdir(parents=True, exist_ok=True)
        quiet = ["--no-audit", "--no-fund", "--loglevel=error"]
        subprocess.run(
            [npm, "install", "--prefix", str(folder), *quiet, *packages],
            check=True,
            timeout=300,
            capture_output=True,
        )
    copied = folder / script
    shutil.copyfile(TESTS / script, copied)
    return node, copied
