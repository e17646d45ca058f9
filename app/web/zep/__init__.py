"""Zep Open Source v0.x's REST API at `/zep`, for code written against it (the zep-python 1.x SDK,
LangChain's ZepChatMessageHistory): Zep v0.27's routes, shapes, status codes and plain-text
errors, answered by the same stores as GraphQL (`routes.ZepAPI`)."""

from __future__ import annotations

MOUNT = "/zep"
"""Where the API is mounted for zep-python: its base URL is http://HOST:PORT/zep."""
API = "/api/v1"
"""Zep's API path, under MOUNT and also at the root: zep-js 0.10 replaces its base URL's path
with it, so its base URL is memql's origin (http://HOST:PORT)."""
VERSION = "0.27.2-memql"
"""The `X-Zep-Version` of every response: the SDK compares the part before the `-` with the
oldest server it supports, and warns when there is no `-`."""


def under_mount(path: str) -> bool:
    """The request path is one of the Zep API's: under /zep, or under /api/v1 at the root."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in (MOUNT, API))
