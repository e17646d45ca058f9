"""The repository's set-up files: README commands, CI, packaging, docker compose."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
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


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "readme_command.py test" in script
    assert "export CI=true" in script
    assert "set -euo pipefail" in script


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


def test_dockerfile_installs_the_package_and_serves_on_all_interfaces() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for needed in ("COPY pyproject.toml README.md", "COPY app", "COPY schema", "pip install"):
        assert needed in dockerfile
    assert '"--host", "0.0.0.0"' in dockerfile


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
