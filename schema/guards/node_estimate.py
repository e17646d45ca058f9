"""The node limit: a static estimate of how many nodes an operation can return, made from the
costs its fields declare (schema.pagination), refused over MEMQL_MAX_NODES with
QUERY_TOO_COMPLEX before any resolver runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    VariableValues,
    get_argument_values,
    get_named_type,
)

from app.errors import BadUserInput, MemqlError, QueryTooComplex
from app.settings import QueryLimits
from schema.errors import as_graphql_error
from schema.guards.fields import SchemaFields, included
from schema.guards.walk import Field, Group, Selections
from schema.pagination import ListSize, Paging

CompositeType = GraphQLObjectType | GraphQLInterfaceType
Arguments = Mapping[str, Any]
PageCheck = Callable[[Paging, FieldNode, Arguments], None]
"""Called with each connection the estimate counts, its field and arguments."""
_NO_ARGUMENTS: Arguments = {}


def _argument_at(arguments: Arguments, path: str) -> Any:
    value: Any = arguments
    for name in path.split("."):
        value = value.get(name) if isinstance(value, Mapping) else None
    return value


class NodeEstimate:
    """GitHub's rule: each connection may return first/last (or the default page size) nodes
    for every node of the connection it is nested in, and counts at least one node per parent
    (a page of none still costs a database query for each); a list whose length the request
    fixes (`ListSize`) counts a node per item. The query's estimate is the sum.

    Arguments are read from the variables as execution coerced them, and what @skip or @include
    leaves out is not counted. What a selection set asks for is proportional to how many
    parents it is resolved for, so each is estimated for one parent and scaled; a fragment's
    estimate is kept, so spreading it again costs one multiplication.

    `page_check`, when given, sees each connection counted (schema.guards.mutation_pages).
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        fields: SchemaFields,
        variables: VariableValues,
        limits: QueryLimits,
        *,
        page_check: PageCheck | None = None,
    ) -> None:
        self.schema = schema
        self.fields = fields
        self.variables = variables
        self.limits = limits
        self.page_check = page_check
        self._fragment_estimates: dict[tuple[Selections, str, int], int] = {}
        # The arguments selection sets inherit, kept so that their ids stay unique.
        self._inherited: list[Arguments] = [_NO_ARGUMENTS]

    def of_operation(self, operation: OperationDefinitionNode, selections: Selections) -> int:
        """Raises GraphQLError when an argument does not coerce (execution would report it)."""
        root = self.schema.get_root_type(operation.operation)
        return self._selections(selections, root, _NO_ARGUMENTS) if root else 0

    def _selections(
        self, selections: Selections, parent: CompositeType, inherited: Arguments
    ) -> int:
        """Nodes a selection set asks for, for one `parent` object; `inherited` are the
        arguments of the field that returned the parent."""
        total = 0
        for item in selections.items:
            if not included(item.node, self.variables):
                continue  # @skip or @include leaves it out: execution will not resolve it
            if isinstance(item, Field):
                total += self._field(item, parent, inherited)
            else:
                total += self._group(item, parent, inherited)
        return total

    def _narrow(self, parent: CompositeType, condition: str | None) -> CompositeType | None:
        """The type a fragment on `condition` is resolved as within `parent`; None when it
        cannot apply (a Session is never a User): execution skips it, and so does the walk."""
        if condition is None:
            return parent
        found = self.schema.get_type(condition)
        target = found if isinstance(found, CompositeType) else None
        if target is None or not isinstance(parent, GraphQLObjectType):
            return target
        if target is parent:
            return parent
        if isinstance(target, GraphQLInterfaceType) and target in parent.interfaces:
            return parent  # still the same object: the interface's fields are its fields
        return None

    def _group(self, group: Group, parent: CompositeType, inherited: Arguments) -> int:
        target = self._narrow(parent, group.type_condition)
        if target is None:
            return 0
        if not group.spread:
            return self._selections(group.selections, target, inherited)
        key = (group.selections, target.name, id(inherited))
        estimate = self._fragment_estimates.get(key)
        if estimate is None:
            estimate = self._selections(group.selections, target, inherited)
            self._fragment_estimates[key] = estimate
        return estimate

    def _field(self, field: Field, parent: CompositeType, inherited: Arguments) -> int:
        node = field.node
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return 0  # __typename, or an unknown field that validation reports
        arguments = get_argument_values(definition, node, self.variables)
        cost = self.fields.cost(parent.name, node.name.value)
        # The nodes the field itself counts, and how many parents its selections have.
        count, parents = 0, 1
        if isinstance(cost, Paging):
            if self.page_check is not None:
                self.page_check(cost, node, arguments)
            parents = cost.page_size(self.limits, arguments)
            count = max(parents, 1)
        elif isinstance(cost, ListSize):
            items = _argument_at(inherited if cost.of_parent else arguments, cost.argument)
            count = parents = len(items) if isinstance(items, list) else 0
        named = get_named_type(definition.type)
        nested = 0
        if field.selections is not None and isinstance(named, CompositeType):
            if arguments:
                self._inherited.append(arguments)
            nested = self._selections(field.selections, named, arguments or _NO_ARGUMENTS)
        return count + parents * nested


class Refused(GraphQLError):
    """A request refused before it runs: an argument that does not coerce (a null given to a
    non-null argument through a variable with a default), or a mutation payload's page."""


def node_limit_errors(
    estimate: NodeEstimate, operation: OperationDefinitionNode, selections: Selections
) -> list[GraphQLError]:
    """Why the operation must not run (over the node limit, an argument that does not coerce,
    a page the estimate's page check refused), or nothing when it may.

    Execution would report an argument that does not coerce only at its field, if it reached
    it, and after a mutation's write: an estimate that could not be made must not let the
    request run unchecked.
    """
    try:
        nodes = estimate.of_operation(operation, selections)
    except Refused as error:
        return [error]
    except GraphQLError as error:
        refusal: MemqlError = BadUserInput(error.message)
        return [Refused(error.message, error.nodes, extensions=refusal.extensions)]
    limits = estimate.limits
    if nodes <= limits.max_nodes:
        return []
    too_many = QueryTooComplex(
        f"this query could return up to {nodes:,} nodes; the limit is {limits.max_nodes:,}: "
        "ask for smaller pages (first/last) or nest fewer connections"
    )
    return [as_graphql_error(too_many, nodes=nodes)]
