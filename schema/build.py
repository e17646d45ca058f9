"""Assembles the Strawberry schema: types, scalars, extensions and error handling."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StreamResult
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from app.settings import QueryLimits, Settings
from schema.context import OperationContexts
from schema.errors import CodedStreamErrors, log_unexpected
from schema.execution import executor_class, for_schema
from schema.guards.limits import limit_extensions
from schema.mutations import Mutation
from schema.operation_name import RecordOperationName, RequireOperationName
from schema.queries import Query
from schema.scalars import SCALAR_MAP
from schema.subscriptions import Subscription
from schema.types import Memory, Session, User


class MemqlSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors, execution_context)

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> StreamResult:
        """Strawberry's streaming execution (GraphQL over WebSocket); a connection's context
        (`OperationContexts`) gives each operation a `Context` of its own."""
        if isinstance(context_value, OperationContexts):
            context_value = context_value.for_operation(operation_name, query)
        return await super().stream(
            query,
            variable_values=variable_values,
            context_value=context_value,
            root_value=root_value,
            operation_name=operation_name,
            operation_extensions=operation_extensions,
            allowed_operation_types=allowed_operation_types,
        )


def build_schema(settings: Settings | None = None) -> MemqlSchema:
    """The schema; `settings` sets the query limits (their defaults when not given)."""
    return schema_with(QueryLimits.of(settings or Settings.model_construct()))


@lru_cache(maxsize=8)
def schema_with(limits: QueryLimits) -> MemqlSchema:
    """The schema for these limits, built once a process (a schema holds no per-app state)."""
    executor = executor_class(limits)
    schema = MemqlSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[User, Session, Memory],
        extensions=[
            RequireOperationName,
            # Limits first: MaxTokensLimiter must set the parser's options before parsing.
            *limit_extensions(limits),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            RecordOperationName,
            CodedStreamErrors,
        ],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=executor,
    )
    for_schema(executor, schema)
    return schema
