"""LangChain is optional: memql_client imports without it, and memql_client.langchain without
it names the extra to install."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


# None in sys.modules makes `import langchain_core` fail as if it were not installed.
WITHOUT_LANGCHAIN = (
    "import sys\n"
    "for name in ('langchain', 'langchain_core', 'langgraph'):\n"
    "    sys.modules[name] = None\n"
)


def test_the_client_imports_nothing_of_langchain() -> None:
    result = run_python(
        "import sys\n"
        "import memql_client\n"
        "print(sorted(name for name in sys.modules if name.startswith(('langchain', 'langgraph'))))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"
    assert run_python(WITHOUT_LANGCHAIN + "import memql_client").returncode == 0


def test_importing_memql_client_langchain_without_langchain_names_the_extra() -> None:
    result = run_python(WITHOUT_LANGCHAIN + "import memql_client.langchain")
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError: memql_client.langchain needs LangChain")
    assert last_line.endswith("pip install 'memql-client[langchain]'")
