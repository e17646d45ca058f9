"""Logging set-up from the settings: level and text or JSON lines."""

from __future__ import annotations

import logging

from app.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(settings: Settings) -> None:
    # basicConfig leaves an already configured root logger (a test runner's, say) alone.
    logging.basicConfig(format=TEXT_FORMAT)
    logging.getLogger("memql").setLevel(settings.log_level)
