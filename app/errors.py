"""memql's errors: one class per GraphQL `extensions.code` of the public contract, and the one
place each code is spelled."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    SESSION_BUSY = "SESSION_BUSY"
    SUBSCRIBER_TOO_SLOW = "SUBSCRIBER_TOO_SLOW"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class MemqlError(Exception):
    """A failure whose message is safe to show to the client, with its code."""

    code = ErrorCode.INTERNAL_SERVER_ERROR

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.completed: list[str] | None = None
        """In a mutation document, the fields before this one that ran (and wrote)."""

    def with_field_prefix(self, prefix: str) -> MemqlError:
        if self.field is None:
            return self
        field = f"{prefix}.{self.field}" if not self.field.startswith("[") else prefix + self.field
        prefixed = type(self)(self.message, field=field)
        prefixed.completed = self.completed
        return prefixed

    @property
    def extensions(self) -> dict[str, object]:
        """`extensions` of the GraphQL error this failure is reported as."""
        extensions: dict[str, object] = {"code": self.code}
        if self.field is not None:
            extensions["field"] = self.field
        if self.completed is not None:
            extensions["completed"] = self.completed
        return extensions


class InternalServerError(MemqlError):
    """memql itself failed; the message carries only the request id, never the cause."""

    code = ErrorCode.INTERNAL_SERVER_ERROR


class BadUserInput(MemqlError):
    code = ErrorCode.BAD_USER_INPUT


class NotFound(MemqlError):
    code = ErrorCode.NOT_FOUND


class AlreadyExists(MemqlError):
    code = ErrorCode.ALREADY_EXISTS


class Unauthenticated(MemqlError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(MemqlError):
    code = ErrorCode.FORBIDDEN


class QueryTooComplex(MemqlError):
    code = ErrorCode.QUERY_TOO_COMPLEX


class SessionBusy(MemqlError):
    """Other writes held the session longer than memql waits: nothing was changed, and the
    same request may simply be sent again."""

    code = ErrorCode.SESSION_BUSY


class SubscriberTooSlow(MemqlError):
    """A subscription fell further behind than its buffer allows and was ended; resubscribing
    with `after: resume_after` (the cursor of the last memory it was sent) loses nothing."""

    code = ErrorCode.SUBSCRIBER_TOO_SLOW

    def __init__(self, message: str, *, resume_after: str) -> None:
        super().__init__(message)
        self.resume_after = resume_after

    @property
    def extensions(self) -> dict[str, object]:
        return {**super().extensions, "resumeAfter": self.resume_after}


ERROR_CODES = frozenset(ErrorCode)
