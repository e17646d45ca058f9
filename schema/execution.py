"""memql's graphql-core executor (Strawberry's `execution_context_class`): the node limit is
checked once the operation and its variables are known, before anything is resolved."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.settings import Settings
from schema.node_limit import node_limit_errors


class MemqlExecutor(StrawberryGraphQLCoreExecutionContext):
    settings: Settings

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        """graphql-core builds the executor (choosing the operation and coercing its
        variables, or answering the errors that stop it); a build refused by the node limit
        answers its errors instead, so execution never starts."""
        executor = super().build(*args, **kwargs)
        if isinstance(executor, list):
            return executor
        errors: list[GraphQLError] = node_limit_errors(
            executor.schema,
            executor.operation,
            executor.fragment_definitions,
            executor.variable_values,
            cls.settings,
        )
        return errors or executor


def executor_class(settings: Settings) -> type[MemqlExecutor]:
    """The executor for a schema built with `settings` (its limits)."""
    return type("MemqlExecutor", (MemqlExecutor,), {"settings": settings})
