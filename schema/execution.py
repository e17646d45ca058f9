"""memql's graphql-core executor (Strawberry's `execution_context_class`): the node limit is
checked once the operation and its variables are known, and a mutation document's fields are
checked before its first write (schema.preflight); nothing is resolved before both pass."""

from __future__ import annotations

from typing import Any

from graphql import ExecutionResult, GraphQLError, OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.settings import Settings
from schema.context import Context
from schema.node_limit import node_limit_errors
from schema.preflight import preflight_errors


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

    def execute_operation(self, serially: bool | None = None) -> Any:
        context = self.context_value
        root = self.schema.mutation_type
        if (
            self.operation.operation is not OperationType.MUTATION
            or root is None
            or not isinstance(context, Context)
        ):
            return super().execute_operation(serially)

        async def checked_then_executed() -> Any:
            errors = await preflight_errors(
                context.store,
                root,
                self.operation,
                self.fragment_definitions,
                self.variable_values,
            )
            if errors:
                return ExecutionResult(data=None, errors=errors)
            result = super(MemqlExecutor, self).execute_operation(serially)
            return await result if self.is_awaitable(result) else result

        return checked_then_executed()


def executor_class(settings: Settings) -> type[MemqlExecutor]:
    """The executor for a schema built with `settings` (its limits)."""
    return type("MemqlExecutor", (MemqlExecutor,), {"settings": settings})
