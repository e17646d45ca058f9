"""Where memql's public contract lives: `../shared/` beside the repository, as in CI. A bare
clone has no `../shared/`; the tests that read it are skipped there, saying so."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CONTRACT = SHARED / "api.graphql"
CHECKER = SHARED / "tools" / "check_contract.py"


def require(path: Path) -> Path:
    """`path`, or skip the test that needs it, naming what is missing and where it runs."""
    if not path.exists():
        pytest.skip(
            f"needs memql's public contract at {path} (the `shared/` folder beside this "
            "repository, which a bare clone lacks); CI has it and runs this test"
        )
    return path
