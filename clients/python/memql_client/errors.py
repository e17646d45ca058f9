"""The client's exceptions: one class per GraphQL `extensions.code` that memql sends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class MemqlError(Exception):
    """A request to memql failed; `code` is the error's `extensions.code`.

    `errors` holds every error of the response as sent; the exception describes the first.
    """

    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        path: Sequence[str | int] = (),
        extensions: Mapping[str, Any] | None = None,
        status_code: int | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        self.path = list(path)
        self.extensions = dict(extensions or {})
        self.status_code = status_code
        self.errors = list(errors)

    def __str__(self) -> str:
        where = f" (field {self.field})" if self.field else ""
        return f"{self.code or 'ERROR'}: {self.message}{where}"


class BadUserInputError(MemqlError):
    """The request was malformed or its input invalid; nothing was changed."""

    code = "BAD_USER_INPUT"


class NotFoundError(MemqlError):
    """The user, session or memory named by the request does not exist (or is deleted)."""

    code = "NOT_FOUND"


class AlreadyExistsError(MemqlError):
    """A live user or session with this identifier exists already."""

    code = "ALREADY_EXISTS"


class UnauthenticatedError(MemqlError):
    """The token is missing, expired or badly signed: pass a valid one as `token=`."""

    code = "UNAUTHENTICATED"


class ForbiddenError(MemqlError):
    """The token's user may not see or change this data."""

    code = "FORBIDDEN"


class QueryTooComplexError(MemqlError):
    """The query is too deep, too wide or asks for too many nodes; ask for smaller pages."""

    code = "QUERY_TOO_COMPLEX"


class InternalServerError(MemqlError):
    """The server failed unexpectedly; `request_id` finds the failure in its logs."""

    code = "INTERNAL_SERVER_ERROR"

    @property
    def request_id(self) -> str | None:
        value = self.extensions.get("requestId")
        return value if isinstance(value, str) else None


class UnexpectedResponseError(MemqlError):
    """The answer was not a GraphQL response: a proxy's error page, a wrong URL, a bad body."""


ERRORS_BY_CODE: dict[str, type[MemqlError]] = {
    cls.code: cls
    for cls in (
        BadUserInputError,
        NotFoundError,
        AlreadyExistsError,
        UnauthenticatedError,
        ForbiddenError,
        QueryTooComplexError,
        InternalServerError,
    )
    if cls.code is not None
}


def error_from_response(errors: Sequence[Mapping[str, Any]], status_code: int) -> MemqlError:
    """The exception for a response's `errors`: the class of the first error's code."""
    first = errors[0]
    extensions = first.get("extensions")
    extensions = extensions if isinstance(extensions, Mapping) else {}
    code = extensions.get("code")
    code = code if isinstance(code, str) else None
    field = extensions.get("field")
    path = first.get("path")
    cls = ERRORS_BY_CODE.get(code or "", MemqlError)
    return cls(
        str(first.get("message", "")),
        code=code,
        field=field if isinstance(field, str) else None,
        path=path if isinstance(path, list) else (),
        extensions=extensions,
        status_code=status_code,
        errors=errors,
    )
