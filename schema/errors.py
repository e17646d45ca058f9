"""How failures reach clients: every GraphQL error gets a stable `extensions.code`.

Expected failures (app.errors.MemqlError) keep their message and code; errors from parsing,
validation or variable coercion are BAD_USER_INPUT; anything else is logged with the request id
and returned as INTERNAL_SERVER_ERROR carrying only that id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext, ExecutionResult, StreamExecutionResult

from app.db import first_line
from app.errors import (
    ERROR_CODES,
    BadUserInput,
    InternalServerError,
    MemqlError,
    QueryTooComplex,
    database_outage,
)

logger = logging.getLogger("memql.errors")


@contextmanager
def input_field(prefix: str) -> Iterator[None]:
    """Name fields of an input object in errors as the client wrote them: `input.userId`."""
    try:
        yield
    except MemqlError as error:
        raise error.with_field_prefix(prefix) from None


def as_graphql_error(error: MemqlError, at: Any = None, **extensions: Any) -> GraphQLError:
    """A failure found outside a resolver (a limit, a request check) as a GraphQL error, at the
    document's node(s) `at`."""
    return GraphQLError(
        error.message, at, original_error=error, extensions={**error.extensions, **extensions}
    )


def is_token_limit_error(error: GraphQLError) -> bool:
    """graphql-core's parser aborts over MaxTokensLimiter's limit with a plain syntax error:
    no error class or code tells it from another, so its message is the one sign (pinned by
    tests/test_limits.py, which fails should graphql-core word it otherwise)."""
    return isinstance(error, GraphQLSyntaxError) and "tokens. Parsing aborted" in error.message


def is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    if isinstance(original, MemqlError) or database_outage(original) is not None:
        return False
    if (error.extensions or {}).get("code") in ERROR_CODES:
        return False
    # Errors at a path are raised while resolving: a bug or an outage.
    if error.path:
        return True
    # Errors without a path come from parsing, validation or variable coercion, the request's
    # fault: they carry no original error, a GraphQLError (coercion's), or point at the part of
    # the document at fault (a scalar refusing a literal). Any other exception escaped from the
    # machinery around them: an extension or a validation rule that crashed.
    return original is not None and not isinstance(original, GraphQLError) and not error.nodes


def is_request_error(result: ExecutionResult) -> bool:
    """The request failed before execution: parse, validation, variables, limits (or, when
    is_unexpected says so, an extension that crashed)."""
    return (
        result.data is None
        and bool(result.errors)
        and all(not error.path for error in result.errors or ())
    )


def request_id_of(execution_context: ExecutionContext | None) -> str:
    context = getattr(execution_context, "context", None)
    return str(getattr(context, "request_id", "-"))


def coded_error(error: GraphQLError, request_id: str) -> GraphQLError:
    original = error.original_error
    extensions: dict[str, Any]
    message = error.message
    if isinstance(original, MemqlError):
        extensions = {**(error.extensions or {}), **original.extensions}
    elif (outage := database_outage(original)) is not None:
        extensions = {**outage.extensions, "requestId": request_id}
        message = outage.message
    elif (error.extensions or {}).get("code") in ERROR_CODES:
        extensions = dict(error.extensions or {})
    elif is_token_limit_error(error) or isinstance(error, ValidationAbortedError):
        extensions = {"code": QueryTooComplex.code}
    elif is_unexpected(error):
        extensions = {"code": InternalServerError.code, "requestId": request_id}
        message = f"Internal server error (request id {request_id})."
    else:
        extensions = {"code": BadUserInput.code}
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


def coded_errors(errors: list[GraphQLError], request_id: str) -> list[GraphQLError]:
    """Every error of a result in its coded, client-safe form; the HTTP view applies this to
    each result, whatever stage (parsing, validation, execution) the errors come from."""
    return [coded_error(error, request_id) for error in errors]


class CodedStreamErrors(SchemaExtension):
    """Each result a streaming transport (GraphQL over WebSocket) sends gets its errors in their
    coded, client-safe form, as the HTTP endpoint gives every response's."""

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        # Incremental delivery's frames (@defer, @stream) are not sent over WebSocket.
        if isinstance(result, ExecutionResult) and result.errors:
            result.errors = coded_errors(result.errors, request_id_of(self.execution_context))
        yield


def log_unexpected(errors: list[GraphQLError], execution_context: ExecutionContext | None) -> None:
    request_id = request_id_of(execution_context)
    for error in errors:
        if database_outage(error.original_error) is not None:
            logger.warning(
                "the database failed request %s at %s: %s",
                request_id,
                ".".join(str(part) for part in error.path or ()) or "-",
                first_line(error.original_error),
            )
        elif is_unexpected(error):
            logger.error(
                "unexpected error in request %s at %s",
                request_id,
                ".".join(str(part) for part in error.path or ()) or "-",
                exc_info=error.original_error or error,
            )
