"""HTTP error responses outside GraphQL execution (401, 4xx for bad requests, 413, 500), with the
same `{"errors": [...]}` body and codes as GraphQL errors; under /zep, Zep's plain text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from app.errors import MemqlError
from app.web.zep import under_mount
from app.web.zep.errors import zep_error


def error_body(error: MemqlError, **extensions: str) -> dict[str, object]:
    return {
        "errors": [{"message": error.message, "extensions": {**error.extensions, **extensions}}]
    }


class ErrorResponse(JSONResponse):
    """The error body of `error`, escaped to ASCII: a message quoting the client's input can
    always be encoded, even an unpaired surrogate (which a JSON `\\ud800` escape decodes to)."""

    def __init__(
        self,
        error: MemqlError,
        status_code: int,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        **extensions: str,
    ) -> None:
        super().__init__(
            error_body(error, **extensions), status_code, headers, media_type, background
        )

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def error_response(
    scope: Scope, error: MemqlError, status_code: int, **extensions: str
) -> Response:
    """The answer to a failure outside any route's own handling (a body over the limit, an
    unexpected exception): Zep's plain text for a request to /zep, memql's JSON body otherwise."""
    if under_mount(scope["path"]):
        return zep_error(error, status_code)
    return ErrorResponse(error, status_code, None, None, None, **extensions)
