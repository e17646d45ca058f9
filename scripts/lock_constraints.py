"""Write constraints.txt, the lock the Docker image installs memql with: every distribution that
`pip install .` brings in, pinned to the version a fresh install picks today, once the whole test
suite has passed on those versions.

Run it with the Python of the image's base (the Dockerfile's FROM) after changing a dependency,
and commit the file: `python3 scripts/lock_constraints.py`. It takes some minutes, since it runs
the tests as CI does (`--slow`); `--no-tests` skips them, for a look at what would change."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints.txt"
BASE_IMAGE = re.compile(r"^FROM python:(?P<version>\d+\.\d+)", re.M)


def image_python() -> str:
    """The Python version of the Dockerfile's base image, e.g. `3.11`."""
    match = BASE_IMAGE.search((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    if match is None:
        raise SystemExit("the Dockerfile's FROM is not python:X.Y…")
    return match["version"]


def fresh_venv(folder: Path) -> Path:
    """A new virtual environment in `folder`; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    return folder / "bin" / "python"


def pip(python: Path, *arguments: str) -> str:
    result = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *arguments],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def resolve() -> list[str]:
    """`name==version` of each distribution a fresh `pip install .` brings in, memql aside."""
    with tempfile.TemporaryDirectory() as folder:
        python = fresh_venv(Path(folder))
        pip(python, "install", "--quiet", str(ROOT))
        frozen = pip(python, "freeze", "--exclude", "memql").splitlines()
    pins = [line for line in frozen if "==" in line]
    return sorted(pins, key=lambda pin: pin.split("==")[0].lower())


def run_the_tests(constraints: Path) -> None:
    """The README's test install, held to `constraints`, in a fresh venv, and the whole suite."""
    with tempfile.TemporaryDirectory() as folder:
        python = fresh_venv(Path(folder))
        pip(python, "install", "--quiet", "-c", str(constraints), "-e", ".[test]")
        pip(python, "install", "--quiet", "-c", str(constraints), "-e", "./clients/python")
        subprocess.run([str(python), "-m", "pytest", "-q", "--slow"], cwd=ROOT, check=True)


def lock_text(pins: list[str], tested: bool) -> str:
    how = "tested with the whole test suite" if tested else "NOT tested (--no-tests)"
    header = [
        "# The Docker image's lock: `pip install -c constraints.txt .` (see the Dockerfile).",
        f"# Resolved by a fresh `pip install .` on Python {image_python()}, {how}.",
        "# Refresh it after changing a dependency: python3 scripts/lock_constraints.py",
    ]
    return "\n".join([*header, *pins]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-tests", action="store_true", help="write it without running tests")
    arguments = parser.parse_args()
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running != image_python():
        raise SystemExit(f"run this with Python {image_python()}, the image's, not {running}")
    pins = resolve()
    previous = CONSTRAINTS.read_text(encoding="utf-8") if CONSTRAINTS.exists() else None
    # In place while the tests run, since they check the file too.
    CONSTRAINTS.write_text(lock_text(pins, tested=not arguments.no_tests), encoding="utf-8")
    if not arguments.no_tests:
        try:
            run_the_tests(CONSTRAINTS)
        except subprocess.CalledProcessError:
            if previous is None:
                CONSTRAINTS.unlink()
            else:
                CONSTRAINTS.write_text(previous, encoding="utf-8")
            raise SystemExit(
                "the tests failed on these versions: constraints.txt is as it was"
            ) from None
    print(f"wrote {CONSTRAINTS.relative_to(ROOT)}: {len(pins)} distributions")


if __name__ == "__main__":
    main()
