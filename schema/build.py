"""Assembles the Strawberry schema: types, scalars, extensions and error handling."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema.errors import log_unexpected
from schema.mutations import Mutation
from schema.queries import Query
from schema.scalars import SCALAR_MAP
from schema.types import Memory, Session, User


class MemqlSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors, execution_context)


def build_schema() -> MemqlSchema:
    return MemqlSchema(
        query=Query,
        mutation=Mutation,
        types=[User, Session, Memory],
        extensions=[
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
        ],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )
