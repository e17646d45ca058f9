"""memql's graphql-core executor (Strawberry's `execution_context_class`): the node limit is
checked once the operation and its variables are known, and a mutation document's fields are
checked before its first write (schema.guards.preflight); nothing is resolved before both
pass. Plain leaf fields are completed without the machinery a resolver needs (`LeafPlan`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    OperationType,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry import Schema
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.settings import QueryLimits
from schema.context import Context
from schema.guards.fields import SchemaFields
from schema.guards.mutation_pages import page_check
from schema.guards.node_estimate import NodeEstimate, node_limit_errors
from schema.guards.preflight import preflight_errors
from schema.guards.walk import Expanded, Selections, expand


@dataclass(frozen=True, slots=True)
class LeafPlan:
    """How to complete a scalar or enum field that has no resolver of its own (a "basic" field
    to Strawberry: its value is an attribute of the object): read the attribute, coerce it."""

    read: Callable[[Any, str], Any]
    attribute: str
    leaf: GraphQLLeafType
    nullable: bool


def leaf_plan(
    fields: SchemaFields, parent_type: GraphQLObjectType, field_name: str
) -> LeafPlan | None:
    field = parent_type.fields.get(field_name)
    strawberry_field = fields.field(parent_type.name, field_name) if field is not None else None
    if strawberry_field is None or not strawberry_field.is_basic_field:
        return None
    return_type = field.type
    nullable = not isinstance(return_type, GraphQLNonNull)
    leaf = return_type if nullable else return_type.of_type
    if not is_leaf_type(leaf):
        return None
    return LeafPlan(strawberry_field.default_resolver, strawberry_field.python_name, leaf, nullable)


class MemqlExecutor(StrawberryGraphQLCoreExecutionContext):
    limits: QueryLimits
    strawberry_schema: Schema
    fields: SchemaFields
    expanded: Expanded
    leaf_fast_path = True
    """Complete plain leaf fields by `LeafPlan` (the differential test turns it off)."""
    leaf_plans: dict[tuple[str, str], LeafPlan | None]

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        """graphql-core builds the executor (choosing the operation and coercing its
        variables, or answering the errors that stop it); a build refused by the node limit
        answers its errors instead, so execution never starts."""
        executor = super().build(*args, **kwargs)
        if not isinstance(executor, MemqlExecutor):
            return executor
        executor.expanded = executor.expansion()
        estimate = NodeEstimate(
            executor.schema,
            cls.fields,
            executor.variable_values,
            cls.limits,
            page_check=(
                page_check(cls.limits)
                if executor.operation.operation is OperationType.MUTATION
                else None
            ),
        )
        errors: list[GraphQLError] = node_limit_errors(
            estimate, executor.operation, executor.selections()
        )
        return errors or executor

    def expansion(self) -> Expanded:
        """The document's expansion FieldLimit made for this request (schema.guards.walk);
        made here for an operation run without it."""
        context = self.context_value
        expanded = context.expansion if isinstance(context, Context) else None
        if expanded is None or expanded.of(self.operation) is None:
            expanded = expand([self.operation, *self.fragment_definitions.values()], 2**62)
        return expanded

    def selections(self) -> Selections:
        selections = self.expanded.of(self.operation)
        assert selections is not None
        return selections

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        """A plain leaf field's value, completed without building a resolve-info object and
        calling a resolver: most fields of a response are such. Anything out of the ordinary (a
        null for a non-null field, a value that does not coerce, an awaitable, field
        middleware) takes graphql-core's own path, which reports it as it always does.
        graphql-core has no public hook for completing a field, so this overrides its method
        (pinned by tests/test_library_reaches.py)."""
        if self.leaf_fast_path and not (
            self.middleware_manager and self.middleware_manager.middlewares
        ):
            name = field_details_list[0].node.name.value
            key = (parent_type.name, name)
            plans = self.leaf_plans
            plan = (
                plans[key]
                if key in plans
                else plans.setdefault(key, leaf_plan(self.fields, parent_type, name))
            )
            if plan is not None:
                try:
                    value = plan.read(source, plan.attribute)
                    if value is None:
                        if plan.nullable:
                            return None
                    elif not self.is_awaitable(value):
                        coerced = plan.leaf.coerce_output_value(value)
                        if coerced is not None and coerced is not Undefined:
                            return coerced
                except Exception:
                    pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

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
                self.strawberry_schema,
                self.fields,
                root,
                self.selections(),
                self.variable_values,
            )
            if errors:
                return ExecutionResult(data=None, errors=errors)
            result = super(MemqlExecutor, self).execute_operation(serially)
            return await result if self.is_awaitable(result) else result

        return checked_then_executed()


def executor_class(limits: QueryLimits) -> type[MemqlExecutor]:
    """The executor for a schema built with these limits; `for_schema` completes it once the
    schema it executes for is built."""
    return type("MemqlExecutor", (MemqlExecutor,), {"limits": limits, "leaf_plans": {}})


def for_schema(executor: type[MemqlExecutor], schema: Schema) -> None:
    """Binds the executor class to the Strawberry schema it runs: the guards read its fields."""
    executor.strawberry_schema = schema
    executor.fields = SchemaFields(schema)
