"""memql's settings, read once from `MEMQL_*` environment variables and a `.env` file."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    NoDecode,
    SettingsConfigDict,
)

from app.mongodb_url import check_mongodb_url

# An origin as browsers send it in the Origin header: scheme and host in lower case, no path.
_ORIGIN = re.compile(
    r"[a-z][a-z0-9+.-]*://(\[[0-9a-f:.]+\]|[a-z0-9-]+(\.[a-z0-9-]+)*)(:(?P<port>[0-9]{1,5}))?"
)


_HOST = re.compile(r"\*|(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\]")


PREFIX = "MEMQL_"
ENV_FILE = ".env"
# MEMQL_* names read by memql's tests, not by the server: no warning that they are no setting.
NOT_SETTINGS = frozenset({"MEMQL_TEST_MONGODB_URL"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore"
    )

    mongodb_url: str | None = Field(
        default=None, description="MongoDB connection string; unset runs the embedded store."
    )
    database: str = Field(default="memql", min_length=1, max_length=63)
    mongodb_timeout_ms: int = Field(default=5000, ge=100, le=120_000)
    default_page_size: int = Field(default=20, ge=1, le=1000)
    max_page_size: int = Field(default=100, ge=1, le=1000)
    graphiql: bool = True
    zep_api: bool = Field(
        default=True, description="Serve Zep v0.x's REST API at /zep (app.web.zep)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # MongoDB's expireAfterSeconds is a 32-bit integer.
    purge_after_seconds: int = Field(default=3600, ge=0, le=2_147_483_647)
    purge_interval_seconds: float = Field(default=60, gt=0, le=86_400)
    data_dir: Path | None = Field(
        default=Path("memql-data"),
        description="Where the embedded store keeps its snapshots; empty: memory only.",
    )
    snapshot_interval_seconds: float = Field(default=5, gt=0, le=86_400)
    auth_secret: SecretStr | None = Field(
        default=None, description="HS256 signing secret; unset turns authentication off."
    )
    allow_unauthenticated: bool = False
    introspection: bool = True
    max_depth: int = Field(default=10, ge=1, le=100)
    max_aliases: int = Field(default=15, ge=0, le=1000)
    max_tokens: int = Field(default=2000, ge=10, le=1_000_000)
    max_nodes: int = Field(default=10_000, ge=1, le=10_000_000)
    max_fields: int = Field(default=5000, ge=1, le=1_000_000)
    max_overlapping_fields: int = Field(default=1000, ge=0, le=1_000_000)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    max_connections: int = Field(default=1000, ge=1, le=1_000_000)
    keep_alive_seconds: float = Field(default=5, gt=0, le=3600)
    max_subscriptions_per_connection: int = Field(default=20, ge=1, le=10_000)
    subscription_buffer: int = Field(default=1000, ge=1, le=1_000_000)
    live_poll_seconds: float = Field(default=1.0, gt=0, le=3600)

    @field_validator("mongodb_url")
    @classmethod
    def _url_is_mongodb(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        check_mongodb_url(value)
        return value

    @field_validator("data_dir", mode="before")
    @classmethod
    def _empty_data_dir_is_memory_only(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip() == "" else value

    @field_validator("auth_secret", mode="before")
    @classmethod
    def _empty_secret_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and value == "" else value

    @field_validator("auth_secret")
    @classmethod
    def _secret_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        # Whitespace around a secret is a copying accident (a newline from a file, say) that
        # would sign with a key other than the one meant, or pad a short one past the check.
        if secret != secret.strip():
            raise ValueError("must not start or end with whitespace")
        # HS256 needs a key at least as long as its 256-bit output (RFC 7518 §3.2).
        if len(secret.encode()) < 32:
            raise ValueError("must be at least 32 bytes long (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            match = _ORIGIN.fullmatch(origin)
            port = match.group("port") if match else None
            if origin != "*" and (match is None or (port is not None and int(port) > 65535)):
                # A browser's Origin never equals such an entry, so it would allow nothing.
                raise ValueError(
                    f"{origin!r} is not an origin: give `*` or scheme://host[:port] in lower "
                    "case, without a path or trailing slash, e.g. https://chat.example.com"
                )
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_are_host_names(cls, value: list[str]) -> list[str]:
        for host in value:
            if not _HOST.fullmatch(host):
                raise ValueError(
                    f"{host!r} is not a host name: give names as a Host header carries them "
                    "without the port (chat.example.com, 10.0.0.5, [fd00::5]), `*.example.com` "
                    "for every subdomain, or `*` for any"
                )
        return [host.lower() for host in value]

    @model_validator(mode="after")
    def _default_page_fits(self) -> Settings:
        if self.default_page_size > self.max_page_size:
            raise ValueError(
                f"MEMQL_DEFAULT_PAGE_SIZE ({self.default_page_size}) must not exceed "
                f"MEMQL_MAX_PAGE_SIZE ({self.max_page_size})"
            )
        return self

    @property
    def embedded(self) -> bool:
        return self.mongodb_url is None

    @property
    def snapshot_dir(self) -> Path | None:
        """Where the embedded store keeps its data; None on MongoDB, or when memory only."""
        return self.data_dir if self.embedded else None

    @property
    def data_dir_ignored(self) -> bool:
        """MEMQL_DATA_DIR was given, but MongoDB keeps the data."""
        return not self.embedded and "data_dir" in self.model_fields_set and bool(self.data_dir)

    @property
    def auth_enabled(self) -> bool:
        return self.auth_secret is not None


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """The settings the GraphQL schema is built from (the others concern serving and storage).
    Hashable: apps made in one process with the same limits (the tests, the benchmark) share
    one schema, which takes tens of milliseconds to build."""

    introspection: bool
    max_depth: int
    max_aliases: int
    max_tokens: int
    max_nodes: int
    max_fields: int
    max_overlapping_fields: int
    default_page_size: int
    max_page_size: int

    @classmethod
    def of(cls, settings: Settings) -> QueryLimits:
        return cls(**{field.name: getattr(settings, field.name) for field in fields(cls)})


class SettingsError(Exception):
    """A setting has a bad value; the message names the variable and what is wrong."""


EnvFile = str | Path | None


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment and the .env file (`_env_file=None`: none), where
    `overrides` do not give them."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        env_file = overrides.get("_env_file", ENV_FILE)
        # The environment wins over the file, and `overrides` over both.
        from_file = variables_in_file(env_file) - variables_in_environment()
        from_file -= {variable(name) for name in overrides}
        raise SettingsError(describe_validation_error(exc, from_file, str(env_file))) from None


def variable(field: str) -> str:
    return f"{PREFIX}{field.upper()}"


def variables_in_environment() -> set[str]:
    """The MEMQL_* names of the environment, in upper case."""
    return _memql_names(EnvSettingsSource(Settings).env_vars)


def variables_in_file(env_file: EnvFile = ENV_FILE) -> set[str]:
    """The MEMQL_* names of the .env file, read as Settings reads it; none without one."""
    if env_file is None:
        return set()
    return _memql_names(DotEnvSettingsSource(Settings, env_file=env_file).env_vars)


def _memql_names(found: Mapping[str, str | None]) -> set[str]:
    # pydantic-settings matches names in any case, and gives them in lower case.
    return {name.upper() for name in found if name.upper().startswith(PREFIX)}


def unknown_variable_warnings(env_file: EnvFile = ENV_FILE) -> list[str]:
    """A warning for each MEMQL_* name of the environment or the .env file that is no setting
    (and so is ignored), naming the setting it most likely meant."""
    known = {variable(field) for field in Settings.model_fields} | NOT_SETTINGS
    warnings = []
    for source, names in (
        ("the environment", variables_in_environment()),
        (str(env_file), variables_in_file(env_file)),
    ):
        for name in sorted(names - known):
            warnings.append(
                f"{name} (set in {source}) is not a memql setting and is ignored: " + _closest(name)
            )
    return warnings


def _closest(name: str) -> str:
    fields = {field.upper(): variable(field) for field in Settings.model_fields}
    # Compared without the prefix that every name shares, which would make any two look alike.
    close = difflib.get_close_matches(name.removeprefix(PREFIX), fields, n=1, cutoff=0.6)
    if close:
        return f"did you mean {fields[close[0]]}?"
    return "memql's README lists the settings"


def describe_validation_error(
    exc: ValidationError,
    from_file: set[str] | None = None,
    env_file: str = ENV_FILE,
) -> str:
    """One line: each bad setting, where it was read when that was the .env file, and what is
    wrong with its value."""
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        if not location:  # a rule across settings, whose message names them
            problems.append(_message(error))
            continue
        name = variable(location)
        source = f" (read from {env_file})" if name in (from_file or ()) else ""
        problems.append(f"{name}{source}: {_message(error)}")
    return "invalid memql settings: " + "; ".join(problems)


def _message(error: ErrorDetails) -> str:
    # pydantic prefixes a validator's own message with "Value error, ".
    exception = error.get("ctx", {}).get("error")
    message = str(exception) if error["type"] == "value_error" and exception else error["msg"]
    return " ".join(message.split())
