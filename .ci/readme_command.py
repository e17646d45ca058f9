"""Print a quick-start command of README.md: the code line after `<!-- quickstart:NAME -->`."""

from __future__ import annotations

import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def quickstart_command(name: str, readme: Path = README) -> str:
    lines = readme.read_text(encoding="utf-8").splitlines()
    marker = f"<!-- quickstart:{name} -->"
    start = lines.index(marker)
    fence, command, closing = lines[start + 1 : start + 4]
    if not fence.startswith("```") or closing != "```" or not command.strip():
        raise SystemExit(f"README.md: {marker} must be followed by a one-line code block")
    return command.strip()


if __name__ == "__main__":
    print(quickstart_command(sys.argv[1] if len(sys.argv) > 1 else "test"))
