"""The GraphiQL playground on GET /graphql: memql's own page, its vendored assets and their
manifest, and MEMQL_GRAPHIQL=false."""

from __future__ import annotations

import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from app.web.playground import EXAMPLE_MUTATION, EXAMPLE_QUERY, EXAMPLE_SUBSCRIPTION, VENDORED
from tests.support.client import GraphQLClient, running_app
from tests.support.stores import make_settings

ROOT = Path(__file__).resolve().parent.parent
HTML = {"accept": "text/html"}


class PageReferences(HTMLParser):
    """Every URL a page refers to: src and href attributes, url() in styles, the JSON config."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.config: dict[str, Any] | None = None
        self._in_config = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "poster", "data"):
                self.urls.append(value or "")
            if name == "style" and value:
                self.urls.extend(css_urls(value))
        self._in_config = dict(attrs).get("id") == "memql-playground"

    def handle_data(self, data: str) -> None:
        if self._in_config:
            self.config = json.loads(data)
        self.urls.extend(css_urls(data))

    def handle_endtag(self, tag: str) -> None:
        self._in_config = False


CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]*)|@import\s+['"]([^'"]*)""")


def css_urls(text: str) -> list[str]:
    return [url or imported for url, imported in CSS_URL.findall(text)]


async def page_references(api: GraphQLClient) -> PageReferences:
    response = await api.http.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    parser = PageReferences()
    parser.feed(response.text)
    return parser


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VENDORED / "manifest.json").read_text(encoding="utf-8"))
    return loaded


async def test_graphiql_page_refers_only_to_memqls_own_paths(api: GraphQLClient) -> None:
    references = await page_references(api)
    assert references.urls, "the page loads no assets"
    for url in references.urls:
        assert url.startswith("/graphiql/") and "//" not in url and "\\" not in url, url
    page = (await api.http.get("/graphql", headers=HTML)).text
    assert "://" not in page


async def test_graphiql_page_is_locked_to_memqls_origin_and_revalidated(api: GraphQLClient) -> None:
    response = await api.http.get("/graphql", headers=HTML)
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src"):
        assert policy[directive] == "'self'"
    assert response.headers["cache-control"] == "no-cache"


async def test_graphiql_assets_are_served_with_long_lived_cache_headers(api: GraphQLClient) -> None:
    references = await page_references(api)
    for url in references.urls:
        response = await api.http.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        content_type = response.headers["content-type"]
        expected = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
        assert content_type.startswith(expected[Path(url).suffix]), (url, content_type)
        # The path carries a digest of the content, so a changed file gets a new URL.
        digest = url.split("/")[2]
        assert hashlib.sha256(response.content).hexdigest().startswith(digest)


async def test_large_assets_are_compressed_for_browsers_that_accept_gzip(
    api: GraphQLClient,
) -> None:
    references = await page_references(api)
    (script,) = [url for url in references.urls if url.endswith("/graphiql.min.js")]
    response = await api.http.get(script, headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) < len(response.content) / 2


async def test_an_asset_under_another_digest_or_name_is_not_found(api: GraphQLClient) -> None:
    references = await page_references(api)
    (script,) = [url for url in references.urls if url.endswith("/graphiql.min.js")]
    stale = re.sub(r"/graphiql/[0-9a-f]+/", "/graphiql/0123456789abcdef/", script)
    assert (await api.http.get(stale)).status_code == 404
    unknown = script.replace("graphiql.min.js", "manifest.json")
    assert (await api.http.get(unknown)).status_code == 404


async def test_graphiql_false_turns_off_the_page_and_its_assets() -> None:
    async with running_app() as enabled:
        urls = (await page_references(enabled)).urls
    async with running_app(make_settings(graphiql=False)) as api:
        page = await api.http.get("/graphql", headers=HTML)
        assert page.status_code == 404
        assert "graphiql" not in page.text.lower()
        for url in urls:
            assert (await api.http.get(url)).status_code == 404, url
        # The API itself still answers.
        assert (await api.data("{ users { totalCount } }"))["users"]["totalCount"] == 0


async def test_first_tab_queries_users_sessions_and_memories_with_a_bearer_header(
    api: GraphQLClient,
) -> None:
    config = (await page_references(api)).config
    assert config == {
        "tabs": [EXAMPLE_QUERY, EXAMPLE_MUTATION, EXAMPLE_SUBSCRIPTION],
        "headers": {"Authorization": "Bearer <token>"},
    }
    # The second tab's mutation adds the data the first tab's query shows.
    assert (await api.data(EXAMPLE_QUERY))["users"]["totalCount"] == 0
    await api.data(EXAMPLE_MUTATION)
    users = (await api.data(EXAMPLE_QUERY))["users"]
    (user,) = [edge["node"] for edge in users["edges"]]
    (session,) = [edge["node"] for edge in user["sessions"]["edges"]]
    contents = [edge["node"]["content"] for edge in session["memories"]["edges"]]
    assert (user["userId"], session["sessionId"]) == ("alice", "chat-1")
    assert contents == ["Which tea has the least caffeine?", "Rooibos: it has none at all."]


def test_vendored_files_match_their_manifest() -> None:
    recorded = manifest()
    files: dict[str, dict[str, Any]] = recorded["files"]
    on_disk = {path.name for path in VENDORED.iterdir()} - {"manifest.json"}
    assert on_disk == set(files)
    for name, entry in files.items():
        content = (VENDORED / name).read_bytes()
        assert hashlib.sha256(content).hexdigest() == entry["sha256"], name
        assert len(content) == entry["size"], name
        package = recorded["packages"][entry["package"]]
        assert re.fullmatch(r"\d+\.\d+\.\d+", package["version"])
        assert package["integrity"].startswith("sha512-")
    assert recorded["generator"] == "scripts/vendor_graphiql.py"
    assert (ROOT / recorded["generator"]).exists()


def test_vendoring_script_pins_the_versions_the_manifest_records() -> None:
    script = (ROOT / "scripts" / "vendor_graphiql.py").read_text(encoding="utf-8")
    for package, entry in manifest()["packages"].items():
        assert f'"{package}": "{entry["version"]}"' in script


@pytest.mark.parametrize("name", [name for name in manifest()["files"] if name.endswith(".css")])
def test_vendored_stylesheets_load_nothing_from_outside(name: str) -> None:
    css = (VENDORED / name).read_text(encoding="utf-8")
    outside = [url for url in css_urls(css) if not url.startswith("data:")]
    assert outside == []


@pytest.mark.parametrize("name", [name for name in manifest()["files"] if name.endswith(".js")])
def test_vendored_scripts_load_no_code_at_run_time(name: str) -> None:
    script = (VENDORED / name).read_text(encoding="utf-8")
    # GraphiQL 4 and later fetch Monaco's workers and modules like this, from a CDN.
    for loader in ("import(", "importScripts(", "new Worker(", "new SharedWorker("):
        assert loader not in script, loader


def test_ci_installs_chromium_so_the_browser_test_runs() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install = script.index("apt-get install -y chromium")
    assert "/usr/bin/chromium" in script[:install]
    assert install < script.index("readme_command.py test")


def test_readme_shows_the_playground_screenshot() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/graphiql.png)" in readme
    assert (ROOT / "docs" / "graphiql.png").read_bytes().startswith(b"\x89PNG")
