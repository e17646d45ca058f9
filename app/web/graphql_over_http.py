"""GraphQL over HTTP at /graphql: the request's checks, the response's media type and status
codes as the GraphQL-over-HTTP spec gives them, around Strawberry's `Schema.execute`; and the
playground page for a browser that opens the URL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.http import process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app.auth import OPEN
from app.errors import BadUserInput, Unauthenticated
from app.settings import Settings
from app.store import Store
from app.web.callers import caller
from app.web.error_responses import ErrorResponse
from app.web.middleware import request_id_of
from app.web.playground import Playground
from schema import build_schema
from schema.context import Context
from schema.errors import coded_errors, is_request_error, is_unexpected

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
BODY_MEDIA_TYPES = (JSON, GRAPHQL_RESPONSE)
"""The media types a POST body is read as (parameters such as charset aside), exactly."""
# GraphQL over HTTP: a GET only reads; a POST may also write.
ALLOWED_OPERATIONS = {
    "GET": frozenset(OperationType) - {OperationType.MUTATION},
    "POST": frozenset(OperationType),
}
ALLOW = {"Allow": ", ".join(ALLOWED_OPERATIONS)}


class RequestRefused(Exception):
    """A request answered with an HTTP error status before anything runs."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def negotiate(accept: str | None) -> str:
    """The response media type: GraphQL over HTTP's own when the client prefers it, else JSON
    (also for `*/*` and a missing Accept header, as the spec asks for compatibility)."""
    best, best_q = JSON, 0.0
    for part in (accept or "").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media in (JSON, GRAPHQL_RESPONSE) and q > best_q:
            best, best_q = media, q
        elif media == GRAPHQL_RESPONSE and q == best_q and q > 0:
            best = media
    return best


def decode_json(data: str | bytes) -> Any:
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise RequestRefused("the request body is not valid UTF-8") from exc
    except RecursionError as exc:
        raise RequestRefused("the request body nests too deeply") from exc
    except json.JSONDecodeError as exc:
        raise RequestRefused("Unable to parse request body as JSON") from exc
    except ValueError as exc:
        # Python refuses to read an integer of more than sys.get_int_max_str_digits() digits.
        raise RequestRefused("the JSON has a number with too many digits") from exc


@dataclass
class GraphQLRequest:
    """The parameters of a GraphQL-over-HTTP request, checked."""

    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None

    @classmethod
    def of(cls, data: object) -> GraphQLRequest:
        if not isinstance(data, dict):
            raise RequestRefused("the request body must be a JSON object with a `query` string")
        query = data.get("query")
        if not isinstance(query, str | None):
            raise RequestRefused(
                "The GraphQL operation's `query` must be a string or null, if provided."
            )
        variables = data.get("variables")
        if not isinstance(variables, dict | None):
            raise RequestRefused(
                "The GraphQL operation's `variables` must be an object or null, if provided."
            )
        extensions = data.get("extensions")
        if not isinstance(extensions, dict | None):
            raise RequestRefused(
                "The GraphQL operation's `extensions` must be an object or null, if provided."
            )
        operation_name = data.get("operationName")
        if not isinstance(operation_name, str | None):
            raise RequestRefused("`operationName` must be a string or null, if provided")
        if not query:
            raise RequestRefused("No GraphQL query found in the request")
        return cls(query, variables, operation_name, extensions)


async def read_graphql_request(request: Request) -> GraphQLRequest:
    """The request's parameters: from the URL of a GET (`variables` and `extensions` as JSON),
    from the JSON body of a POST."""
    if request.method == "GET":
        data: dict[str, Any] = dict(request.query_params)
        for name in ("variables", "extensions"):
            if data.get(name):
                data[name] = decode_json(data[name])
        return GraphQLRequest.of(data)
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in BODY_MEDIA_TYPES:
        raise RequestRefused(
            f"a POST body must be {' or '.join(BODY_MEDIA_TYPES)} (Content-Type), not "
            f"{media_type or 'untyped'}",
            415,
        )
    return GraphQLRequest.of(decode_json(await request.body()))


def asks_for_the_page(request: Request) -> bool:
    """A browser opening /graphql: a GET without a query, accepting HTML."""
    accept = request.headers.get("accept", "")
    return (
        request.method == "GET"
        and "query" not in request.query_params
        and ("text/html" in accept or "*/*" in accept)
    )


def graphql_response(result: ExecutionResult, request_id: str, media_type: str) -> Response:
    """The result with coded errors. A request error (one found before execution) has no
    `data` entry, as the GraphQL spec says, and GraphQL over HTTP's own media type answers it
    with 400 (500 when memql itself failed, an extension say: the request is not at fault)."""
    request_error = is_request_error(result)
    internal = any(is_unexpected(error) for error in result.errors or ())
    if result.errors:
        result.errors = coded_errors(result.errors, request_id)
    body = process_result(result)
    status_code = 200
    if request_error:
        body.pop("data", None)
        if media_type == GRAPHQL_RESPONSE:
            status_code = 500 if internal else 400
    return Response(
        json.dumps(body, separators=(",", ":")), status_code=status_code, media_type=media_type
    )


class GraphQLOverHTTP:
    """The /graphql endpoint: authenticates the caller, checks the request, runs its operation
    and answers in the media type the client accepts; HTTP-level errors get the same JSON
    error body as GraphQL errors."""

    def __init__(self, settings: Settings, playground: Playground | None) -> None:
        self.schema = build_schema(settings)
        self.settings = settings
        self.playground = playground

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive=receive)
        media_type = negotiate(request.headers.get("accept"))
        try:
            response = await self.answer(request, media_type)
        except Unauthenticated as exc:
            response = ErrorResponse(
                exc,
                status_code=401,
                media_type=media_type,
                headers={"WWW-Authenticate": 'Bearer realm="memql"'},
            )
        except RequestRefused as exc:
            response = ErrorResponse(
                BadUserInput(exc.message),
                status_code=exc.status_code,
                media_type=media_type,
                headers=ALLOW if exc.status_code == 405 else None,
            )
        await response(scope, receive, send)

    async def answer(self, request: Request, media_type: str) -> Response:
        page = asks_for_the_page(request)
        store: Store = request.app.state.store
        # The playground page itself is public; its requests carry the token.
        viewer = (
            OPEN
            if page and self.playground
            else await caller(request.headers.get("authorization"), self.settings, store)
        )
        if request.method not in ALLOWED_OPERATIONS:
            raise RequestRefused("GraphQL only supports GET and POST requests.", 405)
        if page:
            if self.playground is None:
                raise RequestRefused("Not Found", 404)
            return self.playground.page(request)
        graphql_request = await read_graphql_request(request)
        context = Context(
            store=store.for_viewer(viewer),
            settings=self.settings,
            request_id=request_id_of(request),
            request=request,
            requested_operation_name=graphql_request.operation_name,
        )
        try:
            result = await self.execute(graphql_request, context, request.method)
        finally:
            request.state.operation_name = context.operation_name
        return graphql_response(result, context.request_id, media_type)

    async def execute(
        self, graphql_request: GraphQLRequest, context: Context, method: str
    ) -> ExecutionResult:
        try:
            return await self.schema.execute(
                graphql_request.query,
                variable_values=graphql_request.variables,
                context_value=context,
                operation_name=graphql_request.operation_name,
                allowed_operation_types=ALLOWED_OPERATIONS[method],
                operation_extensions=graphql_request.extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise RequestRefused(exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            raise RequestRefused("mutations are only accepted over POST", 405) from exc
