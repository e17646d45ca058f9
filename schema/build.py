"""Assembles the Strawberry schema: types, scalars, extensions and error handling."""

from __future__ import annotations

from collections.abc import Iterator

import strawberry
from graphql import GraphQLError, get_operation_ast
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from app.settings import Settings
from schema.context import Context
from schema.errors import log_unexpected
from schema.limits import limit_extensions
from schema.mutations import Mutation
from schema.queries import Query
from schema.scalars import SCALAR_MAP
from schema.types import Memory, Session, User


class RecordOperationName(SchemaExtension):
    """Puts the executed operation's name in the context, for the request log: only a name the
    document defines, never the client's `operationName` as given (it may name nothing)."""

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        finally:
            context = self.execution_context.context
            document = self.execution_context.graphql_document
            if isinstance(context, Context) and document is not None:
                operation = get_operation_ast(document, self.execution_context.operation_name)
                if operation is not None and operation.name is not None:
                    context.operation_name = operation.name.value


class MemqlSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors, execution_context)


def build_schema(settings: Settings | None = None) -> MemqlSchema:
    """The schema; `settings` sets the query limits (their defaults when not given)."""
    settings = settings or Settings.model_construct()
    return MemqlSchema(
        query=Query,
        mutation=Mutation,
        types=[User, Session, Memory],
        extensions=[
            # Limits first: MaxTokensLimiter must set the parser's options before parsing.
            *limit_extensions(settings),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            RecordOperationName,
        ],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )
