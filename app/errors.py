"""memql's errors: one class per GraphQL `extensions.code` of the public contract, and the one
place each code is spelled."""

from __future__ import annotations

import enum

from pymongo.errors import ConnectionFailure, OperationFailure


class ErrorCode(enum.StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    SESSION_BUSY = "SESSION_BUSY"
    SUBSCRIBER_TOO_SLOW = "SUBSCRIBER_TOO_SLOW"
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
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


class DatabaseUnavailable(MemqlError):
    """MongoDB did not answer, or had no primary to write to (a failover, a restart, a lost
    connection). Every memql write may be sent again: a cut delete is finished by its retry."""

    code = ErrorCode.DATABASE_UNAVAILABLE


# MongoDB's codes for "no primary here now", by its documentation of retryable writes:
# HostUnreachable, HostNotFound, NetworkTimeout, ShutdownInProgress, PrimarySteppedDown,
# ExceededTimeLimit, SocketException, NotWritablePrimary, InterruptedAtShutdown,
# InterruptedDueToReplStateChange, NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary.
_NO_PRIMARY = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})


def database_outage(error: BaseException | None) -> DatabaseUnavailable | None:
    """What the client is told of a database failure that a retry may get past; None for any
    other error."""
    transient = isinstance(error, ConnectionFailure) or (
        isinstance(error, OperationFailure)
        and (error.code in _NO_PRIMARY or error.has_error_label("RetryableWriteError"))
    )
    if not transient:
        return None
    return DatabaseUnavailable(
        "the database is unavailable (a failover, a restart or a lost connection); send the "
        "request again: memql's writes are safe to retry, and a cut one is finished by it"
    )


ERROR_CODES = frozenset(ErrorCode)
