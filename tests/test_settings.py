"""Reading the settings: a warning for each MEMQL_* name that is no setting, naming the one it
most likely meant, and one-line errors that say where a bad value was read."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from app.settings import Settings, SettingsError, load_settings, unknown_variable_warnings
from app.web.cli import main


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of its own, where `.env` is whatever the test writes."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: None)
    return tmp_path


def serve(env: dict[str, str]) -> Result:
    return CliRunner().invoke(main, ["serve"], env={"MEMQL_AUTH_SECRET": "", **env})


def warnings_about(name: str, caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and name in record.getMessage()
    ]


def test_a_misspelt_variable_in_the_environment_warns_once_naming_the_setting(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    result = serve({"MEMQL_DEFALT_PAGE_SIZE": "10"})
    assert result.exit_code == 0, result.output
    assert warnings_about("MEMQL_DEFALT_PAGE_SIZE", caplog) == [
        "MEMQL_DEFALT_PAGE_SIZE (set in the environment) is not a memql setting and is ignored: "
        "did you mean MEMQL_DEFAULT_PAGE_SIZE?"
    ]
    [record] = [r for r in caplog.records if "MEMQL_DEFALT_PAGE_SIZE" in r.getMessage()]
    assert record.name == "memql.cli"


def test_a_misspelt_variable_in_the_env_file_warns_naming_the_file(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (workdir / ".env").write_text("OTHER_TOOL=1\nMEMQL_MAX_PAGE_SIZ=50\nMEMQL_DATABASE=x\n")
    assert serve({}).exit_code == 0
    assert warnings_about("MEMQL_MAX_PAGE_SIZ", caplog) == [
        "MEMQL_MAX_PAGE_SIZ (set in .env) is not a memql setting and is ignored: "
        "did you mean MEMQL_MAX_PAGE_SIZE?"
    ]
    assert warnings_about("OTHER_TOOL", caplog) == []


def test_a_name_like_no_setting_points_to_the_list_of_settings(workdir: Path) -> None:
    (workdir / ".env").write_text("MEMQL_BANANA=yellow\n")
    assert unknown_variable_warnings() == [
        "MEMQL_BANANA (set in .env) is not a memql setting and is ignored: "
        "memql's README lists the settings"
    ]


def test_settings_in_any_case_and_the_tests_own_variable_raise_no_warning(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [f"MEMQL_{field.upper()}" for field in Settings.model_fields]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("memql_database", "lower")
    monkeypatch.setenv("MEMQL_TEST_MONGODB_URL", "mongodb://127.0.0.1:1")
    (workdir / ".env").write_text("MEMQL_GRAPHIQL=false\nMemql_Max_Depth=5\n")
    assert unknown_variable_warnings() == []


def error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_a_bad_value_read_from_the_env_file_says_so(workdir: Path) -> None:
    (workdir / ".env").write_text("MEMQL_MAX_PAGE_SIZE=lots\n")
    assert error_line(serve({})) == (
        "Error: invalid memql settings: MEMQL_MAX_PAGE_SIZE (read from .env): Input should be a "
        "valid integer, unable to parse string as an integer"
    )
    # The environment wins over the file: its good value is used, its bad one blamed.
    assert serve({"MEMQL_MAX_PAGE_SIZE": "50"}).exit_code == 0
    assert "(read from .env)" not in error_line(serve({"MEMQL_MAX_PAGE_SIZE": "many"}))


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"MEMQL_MONGODB_URL": "http://nope"},
            "MEMQL_MONGODB_URL: must start with mongodb:// or mongodb+srv://",
        ),
        (
            {"MEMQL_AUTH_SECRET": "short", "MEMQL_LOG_LEVEL": "loud"},
            "MEMQL_LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'; "
            "MEMQL_AUTH_SECRET: must be at least 32 bytes long (e.g. `openssl rand -hex 32`)",
        ),
        (
            {"MEMQL_DEFAULT_PAGE_SIZE": "50", "MEMQL_MAX_PAGE_SIZE": "10"},
            "MEMQL_DEFAULT_PAGE_SIZE (50) must not exceed MEMQL_MAX_PAGE_SIZE (10)",
        ),
    ],
    ids=["validator", "two-settings", "across-settings"],
)
def test_settings_errors_are_one_line_without_pydantics_prefix(
    workdir: Path, env: dict[str, str], line: str
) -> None:
    assert error_line(serve(env)) == f"Error: invalid memql settings: {line}"


def test_overrides_are_never_blamed_on_the_env_file(workdir: Path) -> None:
    (workdir / ".env").write_text("MEMQL_MAX_DEPTH=0\n")
    overrides: dict[str, Any] = {"max_depth": 0}
    with pytest.raises(SettingsError) as raised:
        load_settings(**overrides)
    assert str(raised.value) == (
        "invalid memql settings: MEMQL_MAX_DEPTH: Input should be greater than or equal to 1"
    )
