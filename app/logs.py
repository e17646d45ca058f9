"""Logging set-up from the settings: one configuration for memql's loggers and uvicorn's (passed
to uvicorn as its `log_config`), writing text lines for people or JSON lines for machines, each
stamped with an ISO-8601 UTC time."""

from __future__ import annotations

import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from app.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
# uvicorn repeats some messages with terminal colours in `color_message`, for its own formatter.
NOT_JSON_FIELDS = ("color_message",)


def utc_time(created: float) -> str:
    """`2026-11-28T07:46:07.601Z`: ISO 8601, in UTC, to the millisecond."""
    moment = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return moment.removesuffix("+00:00") + "Z"


class TextFormatter(logging.Formatter):
    """`2026-11-28T07:46:07.601Z INFO memql.http: message`, the time in UTC."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_time(record.created)


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line: `time` (ISO-8601, UTC), `level`, `logger`, `message`, and each
    field passed as `extra` (status, duration_ms, request_id, …) as a key of its own."""

    def __init__(self) -> None:
        super().__init__(
            JSON_FIELDS,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, *NOT_JSON_FIELDS],
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_time(record.created)


def make_formatter(log_format: str) -> logging.Formatter:
    return JsonLineFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT)


def logging_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` configuration, as uvicorn's `log_config` takes it: every
    logger's records (memql's, uvicorn's, any library's warnings) reach one handler on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "memql": {"()": "app.logs.make_formatter", "log_format": settings.log_format},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "memql",
                "stream": "ext://sys.stderr",
            },
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            # Without handlers of their own: their records go up to the root's handler.
            "memql": {"level": settings.log_level},
            "uvicorn": {"level": settings.log_level, "propagate": True},
            "uvicorn.error": {"level": settings.log_level, "propagate": True},
            "uvicorn.access": {"level": settings.log_level, "propagate": True},
            # bm25s sets its own logger to DEBUG, which logs a line for every search.
            "bm25s": {"level": "WARNING"},
        },
    }


def configure_logging(settings: Settings) -> None:
    """Applies `logging_config`, unless this process's logging is set up already: by `memql
    serve` (through uvicorn) or a test runner, say; then only memql's level is set."""
    if logging.getLogger().handlers:
        logging.getLogger("memql").setLevel(settings.log_level)
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        return
    logging.config.dictConfig(logging_config(settings))
