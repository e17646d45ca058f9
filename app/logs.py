"""Logging set-up from the settings: level, and text lines or JSON lines for machines."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

from app.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        # Fields passed as `extra` (status, duration_ms, request_id, …) become JSON keys.
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(make_formatter(settings.log_format))
    # basicConfig leaves an already configured root logger (a test runner's, say) alone.
    logging.basicConfig(handlers=[handler])
    logging.getLogger("memql").setLevel(settings.log_level)
