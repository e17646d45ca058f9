"""The GraphiQL playground on `GET /graphql`: memql's own page over GraphiQL builds vendored from
npm (app/web/static/graphiql/), every file served by memql itself so it works without internet."""

from __future__ import annotations

import functools
import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from string import Template

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

STATIC = Path(__file__).resolve().parent / "static"
VENDORED = STATIC / "graphiql"
OWN = STATIC / "playground"

# In load order: React first, then the UMD builds that find it on `window`, then memql's start-up.
SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "plugin-explorer.umd.js",
    "graphql-ws.min.js",
    "playground.js",
)
STYLESHEETS = ("graphiql.min.css", "plugin-explorer.css", "playground.css")
ICON = "favicon.svg"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

ASSET_ROUTE = "graphiql-asset"
# Asset paths carry a digest of the content, so a browser may keep them for good.
IMMUTABLE = "public, max-age=31536000, immutable"
# The browser itself refuses anything from outside memql; fonts and icons are data: URLs in the CSS.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self' data:; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

EXAMPLE_QUERY = """\
# Welcome to memql. This query lists users with
# their sessions and each session's latest memories.
# Run it with the ▶ button or Ctrl-Enter. A new
# store is empty: the AddExampleData tab adds a
# user, a session and two memories.
#
# When the server asks for tokens
# (MEMQL_AUTH_SECRET), put yours in place of
# <token> in the headers below.
query UsersSessionsMemories {
  users(first: 10) {
    totalCount
    edges {
      node {
        userId
        firstName
        sessions(first: 5) {
          edges {
            node {
              sessionId
              metadata
              memories(last: 10) {
                edges {
                  node {
                    role
                    roleType
                    content
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}
"""

EXAMPLE_MUTATION = """\
# Adds a user, a session of theirs and two memories.
# Adding memories to a session that does not exist
# yet creates it.
mutation AddExampleData {
  addUser(input: {userId: "alice", firstName: "Alice", metadata: {plan: "pro"}}) {
    user {
      userId
    }
  }
  addSession(input: {sessionId: "chat-1", userId: "alice", metadata: {topic: "tea"}}) {
    session {
      sessionId
    }
  }
  addMemory(
    input: {
      sessionId: "chat-1"
      memories: [
        {role: "human", roleType: USER, content: "Which tea has the least caffeine?"}
        {role: "ai", roleType: ASSISTANT, content: "Rooibos: it has none at all."}
      ]
    }
  ) {
    memories {
      uuid
      content
    }
  }
}
"""

EXAMPLE_SUBSCRIPTION = """\
# Follows the session chat-1: run it, then add
# memories to chat-1 (the AddExampleData tab, or
# any client) and watch them arrive. It runs over
# a WebSocket; with `after: "<cursor>"` it first
# sends the stored memories after that cursor.
subscription FollowChat {
  memoryAdded(sessionId: "chat-1") {
    cursor
    node {
      role
      content
      createdAt
    }
  }
}
"""

EXAMPLE_HEADERS = {"Authorization": "Bearer <token>"}


@dataclass(frozen=True)
class Asset:
    name: str
    content: bytes
    digest: str

    @classmethod
    def read(cls, name: str) -> Asset:
        folder = OWN if (OWN / name).exists() else VENDORED
        content = (folder / name).read_bytes()
        return cls(name, content, hashlib.sha256(content).hexdigest()[:16])

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[Path(self.name).suffix]


class Playground:
    """The page and its assets, read once from the package."""

    def __init__(self, assets: dict[str, Asset], template: Template) -> None:
        self.assets = assets
        self.template = template

    def asset_path(self, request: Request, name: str) -> str:
        asset = self.assets[name]
        return request.url_for(ASSET_ROUTE, digest=asset.digest, name=asset.name).path

    def page(self, request: Request) -> HTMLResponse:
        def tag(markup: str, name: str) -> str:
            return "    " + markup.format(html.escape(self.asset_path(request, name)))

        config = {
            "tabs": [EXAMPLE_QUERY, EXAMPLE_MUTATION, EXAMPLE_SUBSCRIPTION],
            "headers": EXAMPLE_HEADERS,
        }
        page = self.template.substitute(
            icon=tag('<link rel="icon" type="image/svg+xml" href="{}" />', ICON),
            stylesheets="\n".join(
                tag('<link rel="stylesheet" href="{}" />', name) for name in STYLESHEETS
            ),
            scripts="\n".join(tag('<script src="{}"></script>', name) for name in SCRIPTS),
            config=script_safe_json(config),
        )
        return HTMLResponse(
            page,
            headers={
                "Cache-Control": "no-cache",
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def serve_asset(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["path_params"]
        asset = self.assets.get(params["name"])
        response: Response
        if asset is None or params["digest"] != asset.digest:
            response = PlainTextResponse("Not Found", status_code=404)
        else:
            response = Response(
                asset.content,
                media_type=asset.media_type,
                headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
            )
        await response(scope, receive, send)

    def route(self) -> Route:
        return Route(
            "/graphiql/{digest}/{name}",
            GZipMiddleware(self.serve_asset),
            methods=["GET", "HEAD"],
            name=ASSET_ROUTE,
        )


@functools.cache
def load_playground() -> Playground:
    assets = {name: Asset.read(name) for name in (*SCRIPTS, *STYLESHEETS, ICON)}
    return Playground(assets, Template((OWN / "index.html").read_text(encoding="utf-8")))


def script_safe_json(value: object) -> str:
    """JSON that cannot close the <script> element it is embedded in."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
