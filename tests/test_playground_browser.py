"""The GraphiQL playground in a real browser: Playwright drives Debian's Chromium against
`memql serve` on 127.0.0.1, and any request that would leave 127.0.0.1 fails the test."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pymongo
import pytest
from playwright.sync_api import ConsoleMessage, Route, expect, sync_playwright

from app.web.live_server import ServerProcess
from app.web.playground import EXAMPLE_MUTATION
from tests.support.stores import ON_MONGODB, make_settings

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "graphiql.png"
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium calls home at start-up; never download one.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
START_UP_SECONDS = 30
UI_TIMEOUT_MS = 15_000

pytestmark = [
    pytest.mark.slow,  # a browser and a server process: about 5 s each
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium; "
        ".ci/run does)",
    ),
]


@contextmanager
def memql_serve(workdir: Path) -> Iterator[str]:
    """`memql serve` in a child process on a free loopback port; yields its base URL."""
    settings = make_settings()
    env = {name: value for name, value in os.environ.items() if not name.startswith("MEMQL_")}
    env.update(MEMQL_DATABASE=settings.database, MEMQL_LOG_LEVEL="WARNING", MEMQL_DATA_DIR="")
    if settings.mongodb_url:
        env["MEMQL_MONGODB_URL"] = settings.mongodb_url
    # The working directory is empty, so no developer's .env leaks into the server.
    command = [sys.executable, "-m", "app", "serve"]
    try:
        with ServerProcess(command, cwd=workdir, env=env, start_seconds=START_UP_SECONDS) as server:
            yield server.url
    finally:
        if ON_MONGODB:
            client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(settings.mongodb_url)
            with client:
                client.drop_database(settings.database)


def console_errors_into(errors: list[str]) -> Callable[[ConsoleMessage], None]:
    def record(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    return record


def test_playground_runs_the_first_tab_offline_in_chromium(tmp_path: Path) -> None:
    with memql_serve(tmp_path) as base:
        seeded = httpx.post(f"{base}/graphql", json={"query": EXAMPLE_MUTATION}, timeout=10)
        assert seeded.status_code == 200 and "errors" not in seeded.json(), seeded.text
        server = urlsplit(base)

        left_memql: list[str] = []
        errors: list[str] = []

        def only_memql(route: Route) -> None:
            url = urlsplit(route.request.url)
            if (url.hostname, url.port) == (server.hostname, server.port):
                route.continue_()
            else:
                left_memql.append(route.request.url)
                route.abort("blockedbyclient")

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
            )
            try:
                context = browser.new_context(viewport={"width": 1440, "height": 960})
                context.route("**/*", only_memql)
                page = context.new_page()
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.on("console", console_errors_into(errors))
                page.goto(f"{base}/graphql")

                # The first tab holds the example query, the headers editor is open for a token.
                expect(page.get_by_role("tab", selected=True)).to_contain_text(
                    "UsersSessionsMemories", timeout=UI_TIMEOUT_MS
                )
                expect(page.locator(".graphiql-editor-tool")).to_contain_text(
                    '"Authorization": "Bearer <token>"'
                )
                page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()

                result = page.locator(".graphiql-response")
                expect(result).to_contain_text('"userId": "alice"', timeout=UI_TIMEOUT_MS)
                expect(result).to_contain_text('"content": "Rooibos: it has none at all."')
                # CodeMirror draws its fold markers a moment later: wait, so that the picture
                # is the same from one run to the next.
                folds = page.locator(".graphiql-query-editor .CodeMirror-foldgutter-open")
                expect(folds.first).to_be_visible()
                page.screenshot(path=SCREENSHOT)
            finally:
                browser.close()

    assert left_memql == []
    assert errors == []


ADD_LIVE_MEMORY = """
mutation($c: String!) {
  addMemory(input: {sessionId: "chat-1", memories: [{role: "human", content: $c}]}) {
    memories { id }
  }
}
"""


def test_playground_runs_the_subscription_tab_over_a_websocket(tmp_path: Path) -> None:
    """The FollowChat tab subscribes through graphql-ws (vendored, no CDN); memories added to
    chat-1 then show in the result pane as they arrive."""
    with memql_serve(tmp_path) as base:
        seeded = httpx.post(f"{base}/graphql", json={"query": EXAMPLE_MUTATION}, timeout=10)
        assert "errors" not in seeded.json(), seeded.text
        errors: list[str] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
            )
            try:
                page = browser.new_page()
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.on("console", console_errors_into(errors))
                page.goto(f"{base}/graphql")
                page.get_by_role("tab").filter(has_text="FollowChat").click(timeout=UI_TIMEOUT_MS)
                expect(page.get_by_role("tab", selected=True)).to_contain_text("FollowChat")
                # The editor shows the tab's document once GraphiQL has switched to it; run
                # before that, it would send the last tab's operationName.
                expect(page.locator(".graphiql-query-editor")).to_contain_text(
                    "memoryAdded", timeout=UI_TIMEOUT_MS
                )
                page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
                result = page.locator(".graphiql-response")
                # The server starts the subscription in a moment: add memories until one shows.
                for attempt in range(50):
                    added = httpx.post(
                        f"{base}/graphql",
                        json={"query": ADD_LIVE_MEMORY, "variables": {"c": f"live {attempt}"}},
                        timeout=10,
                    )
                    assert "errors" not in added.json(), added.text
                    if '"content": "live' in result.inner_text():
                        break
                    page.wait_for_timeout(200)
                expect(result).to_contain_text('"content": "live', timeout=UI_TIMEOUT_MS)
                expect(result).to_contain_text('"cursor": "')
            finally:
                browser.close()
    assert errors == []
