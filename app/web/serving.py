"""How uvicorn serves memql: its connection and message limits from the settings, a timeout for
connections that never send a request, and what `--reload` watches."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from app.settings import Settings


class SilentConnectionTimeout(H11Protocol):
    """uvicorn's h11 protocol, closing a connection that sends nothing for `timeout_keep_alive`
    seconds after it opens. uvicorn starts that timer only once a response is sent, so a client
    that connects and stays silent would otherwise hold its connection (and a file descriptor)
    for good; any bytes it sends stop the timer, as for a keep-alive connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for memql, as `uvicorn.run(app, **server_options(settings))` takes them."""
    return {
        "http": SilentConnectionTimeout,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "limit_concurrency": settings.max_connections,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        # GraphQL over WebSocket: a message is refused (close 1009) as it arrives once it is
        # larger than an HTTP body may be.
        "ws": "websockets-sansio",
        "ws_max_size": settings.max_body_bytes,
        "log_level": settings.log_level.lower(),
        "access_log": False,  # memql logs one line per request itself
    }


# The packages the wheel holds (app/ with its static files, schema/), side by side wherever
# memql is installed: the code `--reload` watches, never the rest of the checkout (a .venv).
PACKAGES = Path(__file__).resolve().parents[2]
WATCHED_DIRECTORIES = (PACKAGES / "app", PACKAGES / "schema")
# Besides *.py: the playground's files under app/web/static/, read when the app is built.
WATCHED_FILES = ("*.py", "*.html", "*.js", "*.css", "*.svg", "*.json")


def reload_options() -> dict[str, Any]:
    """uvicorn's options for `--reload`: watch app/ and schema/ alone. uvicorn watches with
    watchfiles when it is installed (its file patterns need it), else polls their *.py files."""
    options: dict[str, Any] = {"reload_dirs": [str(path) for path in WATCHED_DIRECTORIES]}
    if importlib.util.find_spec("watchfiles") is not None:
        options["reload_includes"] = list(WATCHED_FILES)
    return options
