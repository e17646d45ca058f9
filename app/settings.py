"""memql's settings, read once from `MEMQL_*` environment variables and a `.env` file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.mongodb_url import check_mongodb_url

# An origin as browsers send it in the Origin header: scheme and host in lower case, no path.
_ORIGIN = re.compile(
    r"[a-z][a-z0-9+.-]*://(\[[0-9a-f:.]+\]|[a-z0-9-]+(\.[a-z0-9-]+)*)(:(?P<port>[0-9]{1,5}))?"
)


_HOST = re.compile(r"\*|(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\]")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MEMQL_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    mongodb_url: str | None = Field(
        default=None, description="MongoDB connection string; unset runs the embedded store."
    )
    database: str = Field(default="memql", min_length=1, max_length=63)
    mongodb_timeout_ms: int = Field(default=5000, ge=100, le=120_000)
    default_page_size: int = Field(default=20, ge=1, le=1000)
    max_page_size: int = Field(default=100, ge=1, le=1000)
    graphiql: bool = True
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


class SettingsError(Exception):
    """A setting has a bad value; the message names the variable and what is wrong."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad setting, naming its variable; a single bad setting is one line."""
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        variable = f"MEMQL_{location.upper()}" if location else "settings"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{variable}: {message}")
    if len(problems) == 1:
        return f"invalid memql setting {problems[0]}"
    return "\n  ".join(["invalid memql settings:", *problems])
