"""memql's error types: one class per GraphQL `extensions.code` of the public contract."""

from __future__ import annotations


class MemqlError(Exception):
    """An expected failure whose message is safe to show to the client."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def with_field_prefix(self, prefix: str) -> MemqlError:
        if self.field is None:
            return self
        field = f"{prefix}.{self.field}" if not self.field.startswith("[") else prefix + self.field
        return type(self)(self.message, field=field)


class BadUserInput(MemqlError):
    code = "BAD_USER_INPUT"


class NotFound(MemqlError):
    code = "NOT_FOUND"


class AlreadyExists(MemqlError):
    code = "ALREADY_EXISTS"


class Unauthenticated(MemqlError):
    code = "UNAUTHENTICATED"


class Forbidden(MemqlError):
    code = "FORBIDDEN"


class QueryTooComplex(MemqlError):
    code = "QUERY_TOO_COMPLEX"


ERROR_CODES = frozenset(
    cls.code
    for cls in (
        MemqlError,
        BadUserInput,
        NotFound,
        AlreadyExists,
        Unauthenticated,
        Forbidden,
        QueryTooComplex,
    )
)
