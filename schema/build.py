"""Assembles the Strawberry schema: types, scalars, extensions and error handling."""

from __future__ import annotations

from collections.abc import Iterator

import strawberry
from graphql import ExecutionResult, GraphQLError, OperationDefinitionNode, get_operation_ast
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from app.errors import BadUserInput
from app.settings import Settings
from schema.context import Context
from schema.errors import as_graphql_error, log_unexpected
from schema.execution import executor_class
from schema.limits import limit_extensions
from schema.mutations import Mutation
from schema.queries import Query
from schema.scalars import SCALAR_MAP
from schema.types import Memory, Session, User


class RequireOperationName(SchemaExtension):
    """Refuses a document of several operations sent without `operationName`, as the GraphQL
    spec's GetOperation does; Strawberry would run the first one, which may not be the one the
    client meant (a mutation, say). Runs before execution, so nothing is read or written."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # Strawberry keeps the operationName as given here; its `operation_name` falls back to
        # the document's first operation.
        provided = getattr(context, "_provided_operation_name", None)
        if context.result is None and document is not None and provided is None:
            names = [
                definition.name.value if definition.name else "(anonymous)"
                for definition in document.definitions
                if isinstance(definition, OperationDefinitionNode)
            ]
            if len(names) > 1:
                context.result = ExecutionResult(
                    data=None,
                    errors=[
                        as_graphql_error(
                            BadUserInput(
                                f"this document defines {len(names)} operations "
                                f"({', '.join(names)}): give operationName to choose the one "
                                "to run",
                                field="operationName",
                            )
                        )
                    ],
                )
        yield


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
            RequireOperationName,
            # Limits first: MaxTokensLimiter must set the parser's options before parsing.
            *limit_extensions(settings),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            RecordOperationName,
        ],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=executor_class(settings),
    )
