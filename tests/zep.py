"""Calls to memql's Zep REST API (/zep/api/v1) for the tests, through a GraphQLClient's app."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.support.client import GraphQLClient

ZEP_VERSION = "0.27.2-memql"
API = "/zep/api/v1"


class Zep:
    """Sends Zep requests with the client's token and checks what every answer carries."""

    def __init__(self, api: GraphQLClient) -> None:
        self.api = api

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """`body` as JSON, or as it is when it is bytes."""
        content = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        response = await self.api.http.request(
            method,
            API + path,
            content=content,
            headers={**self.api.headers, "content-type": "application/json", **(headers or {})},
        )
        assert response.headers["x-zep-version"] == ZEP_VERSION
        assert "Traceback" not in response.text
        return response
