"""The repository's set-up files: README commands, CI, packaging, docker compose."""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml

from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_command(name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "readme_command.py"), name],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_readme_quick_start_is_two_commands() -> None:
    serve, test = readme_command("serve"), readme_command("test")
    assert "pip install -e ." in serve and serve.endswith("memql serve")
    assert "pip install -e '.[test]'" in test and "pytest" in test
    assert README.count("<!-- quickstart:") == 2


# Plays every command .ci/run calls but the shell's own (bash, dirname, rm, mktemp, seq, sleep,
# cat): each call is recorded; python3 really runs .ci/readme_command.py (so the command comes
# from the README) and makes a venv whose pip and python are this stub too; that venv's pytest
# exits with the status in the file pytest-status, and its wire server writes a port and exits.
STUB = """#!{python}
import json, os, sys
stubs = os.path.dirname(os.path.realpath(__file__))
invoked = sys.argv[0]
name = os.path.basename(invoked) if os.path.dirname(invoked) == stubs else invoked
args = sys.argv[1:]
with open(os.path.join(stubs, "calls.jsonl"), "a") as log:
    call = {{
        "argv": [name, *args],
        "ci": os.environ.get("CI"),
        "cwd": os.getcwd(),
        "mongodb": os.environ.get("MEMQL_TEST_MONGODB_URL"),
    }}
    log.write(json.dumps(call) + "\\n")
if name == "python3" and args[:1] == [".ci/readme_command.py"]:
    os.execv(sys.executable, [sys.executable, *args])
if name == "python3" and args[:2] == ["-m", "venv"]:
    os.makedirs(os.path.join(args[2], "bin"))
    for tool in ("pip", "python"):
        os.symlink(os.path.realpath(__file__), os.path.join(args[2], "bin", tool))
if name.endswith("/bin/python") and args[:2] == ["-m", "tests.wire_server"]:
    with open(args[args.index("--port-file") + 1], "w") as port:
        port.write("27999")
if name.endswith("/bin/python") and args[:2] == ["-m", "pytest"]:
    with open(os.path.join(stubs, "pytest-status")) as status:
        sys.exit(int(status.read()))
"""


def run_ci(tmp_path: Path, pytest_status: int) -> tuple[int, list[dict[str, Any]]]:
    """`bash .ci/run` on a copy of the CI files, with a PATH of stubs only (STUB); returns its
    exit status and the commands it ran."""
    checkout, stubs = tmp_path / "checkout", tmp_path / "stubs"
    (checkout / ".ci").mkdir(parents=True)
    for name in (".ci/run", ".ci/readme_command.py", "README.md"):
        shutil.copy(ROOT / name, checkout / name)
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (checkout / ".venv" / "bin" / "stale").write_text("left by an earlier run")
    stubs.mkdir()
    stub = stubs / "stub.py"
    stub.write_text(STUB.format(python=sys.executable))
    stub.chmod(0o755)
    for command in ("python3", "apt-get"):
        (stubs / command).symlink_to(stub)
    for command in ("bash", "dirname", "rm", "mktemp", "seq", "sleep", "cat"):
        found = shutil.which(command)
        assert found is not None, command
        (stubs / command).symlink_to(found)
    (stubs / "pytest-status").write_text(str(pytest_status))
    result = subprocess.run(
        [str(stubs / "bash"), str(checkout / ".ci" / "run")],
        env={"PATH": str(stubs)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert not (checkout / ".venv" / "bin" / "stale").exists(), "the venv was not made afresh"
    calls: list[dict[str, Any]] = [
        json.loads(line) for line in (stubs / "calls.jsonl").read_text().splitlines()
    ]
    assert {call["cwd"] for call in calls} == {str(checkout)}, result.stderr
    return result.returncode, calls


def test_ci_runs_the_readme_test_command_in_a_fresh_venv_then_again_on_a_wire_server(
    tmp_path: Path,
) -> None:
    status, calls = run_ci(tmp_path, pytest_status=0)
    assert status == 0, calls
    installs_chromium = (
        []
        if Path("/usr/bin/chromium").exists()
        else [["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]]
    )
    test_command = [shlex.split(part) for part in readme_command("test").split("&&")]
    argv = [call["argv"] for call in calls]
    assert argv[: len(argv) - 2] == [
        *installs_chromium,
        ["python3", ".ci/readme_command.py", "test"],
        *test_command,
    ]
    server, suite = calls[-2:]
    assert server["argv"][:3] == [".venv/bin/python", "-m", "tests.wire_server"]
    assert suite["argv"] == [".venv/bin/python", "-m", "pytest"]
    assert suite["mongodb"] == "mongodb://127.0.0.1:27999/"
    assert all(call["mongodb"] is None for call in calls[:-1])
    assert {call["ci"] for call in calls} == {"true"}


def test_ci_fails_when_the_tests_fail(tmp_path: Path) -> None:
    status, calls = run_ci(tmp_path, pytest_status=1)
    assert status == 1
    assert calls[-1]["argv"][1:] == ["-m", "pytest"]
    assert calls[-1]["mongodb"] is None, "the wire run starts only when the first run passes"


def test_readme_settings_table_lists_every_setting() -> None:
    table = README.split("<!-- settings-table -->", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"`(MEMQL_[A-Z_]+)`", table))
    defined = {f"MEMQL_{name.upper()}" for name in Settings.model_fields}
    assert documented == defined


def test_dependencies_are_bounded_above() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    unbounded = [req for req in requirements if "<" not in req and "==" not in req]
    assert unbounded == []
    names = {re.split(r"[<>=]", req, maxsplit=1)[0] for req in project["dependencies"]}
    # mongomock-motor imports typing_extensions without declaring it.
    assert {
        "strawberry-graphql",
        "starlette",
        "uvicorn",
        "motor",
        "mongomock-motor",
        "typing-extensions",
        "pydantic-settings",
    } <= names
    assert project["scripts"] == {"memql": "app.web.cli:main"}


def test_test_extras_install_the_python_clients_langchain_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    client_pyproject = ROOT / "clients" / "python" / "pyproject.toml"
    client = tomllib.loads(client_pyproject.read_text(encoding="utf-8"))["project"]
    langchain_extra = client["optional-dependencies"]["langchain"]
    assert {"langchain", "langchain-core", "langgraph"} == {
        re.split(r"[<>=]", req, maxsplit=1)[0] for req in langchain_extra
    }
    assert all("<" in req for req in langchain_extra)
    assert set(langchain_extra) <= set(project["optional-dependencies"]["test"])


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_runs_mongo_as_a_healthy_single_node_replica_set() -> None:
    mongo = compose()["services"]["mongo"]
    assert mongo["image"].startswith("mongo:")
    assert "--replSet" in mongo["command"]
    replica_set = mongo["command"][mongo["command"].index("--replSet") + 1]
    health = mongo["healthcheck"]
    assert "rs.initiate" in " ".join(health["test"]) and replica_set in " ".join(health["test"])
    assert {"interval", "timeout", "retries"} <= set(health)
    volume = mongo["volumes"][0].split(":")[0]
    assert volume in compose()["volumes"]


def test_compose_points_memql_at_mongo_after_it_is_healthy() -> None:
    services = compose()["services"]
    memql = services["memql"]
    assert memql["build"] == "."
    assert (ROOT / "Dockerfile").exists()
    assert memql["depends_on"] == {"mongo": {"condition": "service_healthy"}}
    url = memql["environment"]["MEMQL_MONGODB_URL"]
    replica_set = services["mongo"]["command"][services["mongo"]["command"].index("--replSet") + 1]
    assert url.startswith("mongodb://mongo:27017") and f"replicaSet={replica_set}" in url
    command = memql["command"]
    assert command[:2] == ["memql", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    port = command[command.index("--port") + 1]
    assert any(mapping.endswith(f":{port}") for mapping in memql["ports"])


Instruction = tuple[str, str]


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments left out."""
    instructions: list[Instruction] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def exec_form(arguments: str) -> list[str]:
    if arguments.startswith("["):
        loaded: list[str] = json.loads(arguments)
        return loaded
    return shlex.split(arguments)


def image_files(instructions: list[Instruction]) -> tuple[str, dict[str, int]]:
    """The WORKDIR the image ends in, and each path COPY puts in it (relative to that folder)
    with the index of its COPY instruction."""
    workdir, copied = "/", {}
    for index, (keyword, arguments) in enumerate(instructions):
        if keyword == "WORKDIR":
            workdir = posixpath.join(workdir, arguments)
        elif keyword == "COPY":
            *sources, destination = [
                arg for arg in exec_form(arguments) if not arg.startswith("--")
            ]
            target = posixpath.join(workdir, destination)
            for source in sources:
                into_folder = destination.endswith("/") or len(sources) > 1
                path = posixpath.join(target, posixpath.basename(source)) if into_folder else target
                copied[posixpath.normpath(path)] = index
    return workdir, {posixpath.relpath(path, workdir): index for path, index in copied.items()}


def test_dockerfile_copies_what_the_build_reads_installs_it_and_serves_on_the_mapped_port() -> None:
    instructions = dockerfile_instructions(ROOT / "Dockerfile")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    needed = {"pyproject.toml", pyproject["project"]["readme"], *packages}
    _, copied = image_files(instructions)
    assert needed <= set(copied), copied
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line]
    assert [path for path in needed if any(fnmatch(path, rule) for rule in ignored)] == []

    installs = [
        index
        for index, (keyword, arguments) in enumerate(instructions)
        if keyword == "RUN"
        for command in arguments.split("&&")
        if shlex.split(command)[:2] == ["pip", "install"] and "." in shlex.split(command)[2:]
    ]
    assert len(installs) == 1 and installs[0] > max(copied[path] for path in needed)

    (command,) = [exec_form(arguments) for keyword, arguments in instructions if keyword == "CMD"]
    assert not any(keyword == "ENTRYPOINT" for keyword, _ in instructions)
    assert command[0] in pyproject["project"]["scripts"] and command[1] == "serve"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    port = command[command.index("--port") + 1]
    mapped = {mapping.rsplit(":", 1)[1] for mapping in compose()["services"]["memql"]["ports"]}
    assert mapped == {port}
    assert ("EXPOSE", port) in instructions


def test_compose_mongo_is_healthy_only_once_it_has_a_writable_primary() -> None:
    """mongosh --eval exits 0 whatever its last value is; only quit(1) makes it fail."""
    script = compose()["services"]["mongo"]["healthcheck"]["test"][-1]
    assert script.rstrip().endswith("db.hello().isWritablePrimary || quit(1)")


def test_compose_memql_is_healthy_once_readyz_is() -> None:
    memql = compose()["services"]["memql"]
    command = memql["command"]
    port = command[command.index("--port") + 1]
    assert f"http://127.0.0.1:{port}/readyz" in " ".join(memql["healthcheck"]["test"])


def test_scaling_docs_create_each_shard_key_index_before_shard_collection() -> None:
    """shardCollection makes the shard key's index only for an empty collection; on one that
    holds data it fails unless the index exists (MongoDB's shardCollection documentation)."""
    shardings = 0
    blocks = re.findall(r"```[a-z]*\n(.*?)```", (ROOT / "docs" / "scaling.md").read_text(), re.S)
    for block in blocks:
        created: list[str] = []
        for line in block.splitlines():
            if index := re.search(r"\.createIndex\((\{[^}]*\})", line):
                created.append(index.group(1))
            if shard := re.search(r'sh\.shardCollection\("[^"]+",\s*(\{[^}]*\})', line):
                shardings += 1
                assert shard.group(1) in created, f"no createIndex({shard.group(1)}) before it"
    assert shardings >= 2
