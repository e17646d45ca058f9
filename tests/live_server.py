"""A real uvicorn server on 127.0.0.1 in a background thread, for tests that need a socket."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from app.settings import Settings
from app.web.http import create_app

START_TIMEOUT = 20.0


@contextmanager
def live_server(settings: Settings, **options: Any) -> Iterator[str]:
    """Serve memql on a free loopback port; yields its base URL and stops it afterwards.
    `options` are uvicorn's (app.web.serving.server_options gives memql's own)."""
    config = uvicorn.Config(
        create_app(settings),
        **{"host": "127.0.0.1", "port": 0, "log_level": "warning", "lifespan": "on", **options},
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="memql-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT)
