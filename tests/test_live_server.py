"""The live-server harness (app.web.live_server): loopback only, a free port, and start-up and
shut-down that end within their bounds whatever the server does."""

from __future__ import annotations

import sys
import time

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from app.store import Store
from app.web.http import create_app
from app.web.live_server import ServerDidNotStart, ServerProcess, ServerThread
from tests.support.stores import make_settings


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_thread_serves_the_app_on_loopback_and_runs_coroutines_on_its_loop() -> None:
    app = create_app(make_settings())
    with ServerThread(app) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
        store: Store = app.state.store
        assert server.call(store.db.unreachable()) is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/healthz")


async def refuse_to_start(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "refused"})


def test_a_thread_whose_app_fails_to_start_raises_at_once() -> None:
    started = time.monotonic()
    with (
        pytest.raises(ServerDidNotStart, match="stopped while starting"),
        ServerThread(refuse_to_start, start_seconds=30),
    ):
        pass
    assert time.monotonic() - started < 10


def test_a_process_is_given_loopback_and_a_port_and_fails_with_its_output_when_it_exits() -> None:
    server = ServerProcess(python("import sys; print(sys.argv[1:]); sys.exit(3)"))
    with pytest.raises(ServerDidNotStart, match="exited with 3") as raised, server:
        pass
    assert f"['--host', '127.0.0.1', '--port', '{server.port}']" in str(raised.value)


def test_a_process_that_never_answers_is_stopped_when_its_start_up_time_is_over() -> None:
    server = ServerProcess(python("import time; time.sleep(60)"), start_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(ServerDidNotStart, match=r"did not answer within 0\.5 s"), server:
        pass
    assert time.monotonic() - started < 10
    assert server.process is not None and server.process.poll() is not None


def test_a_process_that_ignores_sigterm_is_killed_after_its_stop_time() -> None:
    ignores_sigterm = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    server = ServerProcess(
        python(ignores_sigterm + "print('ready', flush=True); time.sleep(60)"),
        start_seconds=1,
        stop_seconds=0.5,
    )
    with pytest.raises(ServerDidNotStart, match="ready"), server:
        pass
    assert server.process is not None and server.process.returncode == -9
