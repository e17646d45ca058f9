"""memql on a free port of 127.0.0.1 for as long as a `with` block runs: served by uvicorn from a
thread of this process (`ServerThread`), or as a child process (`ServerProcess`).

Its users are the tests that need a real socket, memql-client's tests and the benchmark. It
lives in the server's package because that is the one layer all of them already import:
bench/ must not import tests/, and memql-client's tests import the server but neither tests/
nor bench/. It needs nothing beyond the server's own dependencies (uvicorn and the standard
library), and the running service never imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import shlex
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn, Self, TypeVar

import uvicorn
from starlette.types import ASGIApp

T = TypeVar("T")

LOOPBACK = "127.0.0.1"
POLL_SECONDS = 0.02


class ServerDidNotStart(Exception):
    """The server did not answer in time, or stopped while starting; the message has its log."""


class ServerDidNotStop(Exception):
    """The server was still running after it was told to stop, and then forced to."""


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


class ServerThread:
    """An ASGI app served by uvicorn on 127.0.0.1 (a free port) from a thread with its own event
    loop, lifespan included. `call` runs a coroutine on that loop, where the app's database
    client lives."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        start_seconds: float = 20.0,
        stop_seconds: float = 10.0,
        **options: Any,
    ) -> None:
        """`options` are uvicorn's (app.web.serving.server_options gives memql's own)."""
        self.app = app
        self.start_seconds = start_seconds
        self.stop_seconds = stop_seconds
        # log_config=None: uvicorn's records go to this process's logging as it is set up.
        defaults = {"log_level": "warning", "log_config": None, "lifespan": "on"}
        config = uvicorn.Config(app, host=LOOPBACK, port=0, **{**defaults, **options})
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, name="memql-server", daemon=True)
        self.port: int | None = None

    def _serve(self) -> None:
        # uvicorn reports a failed start-up (lifespan, bind) with sys.exit, meant for a process.
        with contextlib.suppress(SystemExit):
            self.loop.run_until_complete(self.server.serve())

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:43123 (no trailing slash)."""
        if self.port is None:
            raise RuntimeError("the server has no URL until start() returns")
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.start_seconds
        while not self.server.started:
            if not self.thread.is_alive():
                self.stop()
                raise ServerDidNotStart("uvicorn stopped while starting: its log says why")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerDidNotStart(f"uvicorn did not start within {self.start_seconds:g} s")
            time.sleep(POLL_SECONDS)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self.url

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=timeout)

    def stop(self) -> None:
        if self.thread.ident is not None:
            self.server.should_exit = True
            self.thread.join(self.stop_seconds)
            if self.thread.is_alive():
                self.server.force_exit = True
                self.thread.join(self.stop_seconds)
            if self.thread.is_alive():
                raise ServerDidNotStop(
                    f"uvicorn still ran {2 * self.stop_seconds:g} s after it was told to stop"
                )
        self.loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class ServerProcess:
    """A server command (`python -m app serve`, `python -m bench.server`) run as a child process
    with `--host 127.0.0.1 --port N` on a free port, for as long as a `with` block runs; started
    once GET /healthz answers 200. Its output goes to a temporary file, whose end is in the error
    when it does not start."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        start_seconds: float = 30.0,
        stop_seconds: float = 10.0,
    ) -> None:
        self.command = list(command)
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.start_seconds = start_seconds
        self.stop_seconds = stop_seconds
        self.port = free_port()
        self.log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._running = contextlib.ExitStack()

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:43123 (no trailing slash)."""
        return f"http://{LOOPBACK}:{self.port}"

    def __enter__(self) -> Self:
        with contextlib.ExitStack() as starting:
            self.log = starting.enter_context(tempfile.TemporaryFile())
            starting.callback(self.stop)
            self.process = subprocess.Popen(
                [*self.command, "--host", LOOPBACK, "--port", str(self.port)],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )
            self._wait_until_it_answers(self.process)
            self._running = starting.pop_all()
        return self

    def __exit__(self, *_: object) -> None:
        self._running.close()

    def _wait_until_it_answers(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.start_seconds
        while not self.answers():
            if process.poll() is not None:
                self._fail_to_start(f"exited with {process.returncode}")
            if time.monotonic() > deadline:
                self._fail_to_start(f"did not answer within {self.start_seconds:g} s")
            time.sleep(POLL_SECONDS)

    def _fail_to_start(self, what: str) -> NoReturn:
        self.stop()
        raise ServerDidNotStart(f"`{shlex.join(self.command)}` {what}:\n{self.log_text()}")

    def answers(self) -> bool:
        # http.client rather than urllib: a proxy set in the environment is never asked.
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=1)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def log_text(self, limit: int = 4000) -> str:
        """The last `limit` bytes the server printed."""
        if self.log is None or self.log.closed:
            return ""
        # Read at an offset: the child writes through the same file position.
        size = os.fstat(self.log.fileno()).st_size
        start = max(0, size - limit)
        return os.pread(self.log.fileno(), size - start, start).decode(errors="replace")

    def stop(self) -> None:
        """Terminate the process, and kill it if it has not exited within `stop_seconds`."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=self.stop_seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=self.stop_seconds)
