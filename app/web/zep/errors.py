"""Zep's answers to failures: plain text as Go's `http.Error` writes it, with Zep's status for
each memql error code (the one place they are mapped), and 501 for what memql does not have."""

from __future__ import annotations

from starlette.responses import PlainTextResponse

from app.errors import ErrorCode, MemqlError

STATUS = {
    ErrorCode.BAD_USER_INPUT: 400,
    # Zep answered a taken user_id or session_id with 400 ("... already exists").
    ErrorCode.ALREADY_EXISTS: 400,
    ErrorCode.QUERY_TOO_COMPLEX: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    # Another write held the session too long: the same request may be sent again.
    ErrorCode.SESSION_BUSY: 503,
    # Only a subscription falls behind, and /zep has none: mapped so that every code is.
    ErrorCode.SUBSCRIBER_TOO_SLOW: 503,
    ErrorCode.DATABASE_UNAVAILABLE: 503,
    ErrorCode.INTERNAL_SERVER_ERROR: 500,
}
NOT_FOUND_TEXT = "not found"
"""Zep's body for every 404; the SDK raises NotFoundError with a message of its own."""


class ZepText(PlainTextResponse):
    """A plain-text answer as Go's `http.Error` writes it: the text and a newline."""

    def __init__(self, text: str, status_code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(
            text + "\n",
            status_code,
            headers={"X-Content-Type-Options": "nosniff", **(headers or {})},
        )


def zep_error(error: MemqlError, status_code: int | None = None) -> ZepText:
    """`error` as Zep answers it: its code's status (or `status_code`: 413, say) and its
    message, except Zep's own `not found`."""
    status = status_code or STATUS[error.code]
    text = NOT_FOUND_TEXT if error.code == ErrorCode.NOT_FOUND else error.message
    headers = {"WWW-Authenticate": 'Bearer realm="memql"'} if status == 401 else None
    return ZepText(text, status, headers)


class Unsupported(Exception):
    """A Zep feature memql does not have: answered 501, which the SDK raises as APIError."""

    def __init__(self, feature: str) -> None:
        super().__init__(feature)
        self.feature = feature

    def response(self) -> ZepText:
        return ZepText(f"memql does not implement Zep's {self.feature}", 501)
