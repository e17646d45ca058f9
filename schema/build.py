"""Assembles the Strawberry schema: types, scalars, extensions and error handling."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from app.settings import Settings
from schema.errors import log_unexpected
from schema.execution import executor_class
from schema.limits import limit_extensions
from schema.mutations import Mutation
from schema.operation_name import RecordOperationName, RequireOperationName
from schema.queries import Query
from schema.scalars import SCALAR_MAP
from schema.types import Memory, Session, User


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
