"""The node limit: a static estimate of how many nodes an operation can return, made from the
costs its fields declare (schema.pagination), refused over MEMQL_MAX_NODES with
QUERY_TOO_COMPLEX before any resolver runs. A mutation's page arguments are checked here too,
before its write."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    VariableValues,
    get_argument_values,
    get_directive_values,
    get_named_type,
)
from strawberry.schema.schema_converter import GraphQLCoreConverter

from app.errors import BadUserInput, MemqlError, QueryTooComplex
from app.settings import QueryLimits
from schema.errors import as_graphql_error
from schema.pagination import COST, ListSize, Paging

CompositeType = GraphQLObjectType | GraphQLInterfaceType
Arguments = Mapping[str, Any]
_NO_ARGUMENTS: Arguments = {}


def declared_cost(definition: GraphQLField) -> Paging | ListSize | None:
    """The cost the field's Strawberry definition declares in its metadata, if any."""
    metadata: Mapping[str, Any] = getattr(strawberry_field_of(definition), "metadata", None) or {}
    cost = metadata.get(COST)
    return cost if isinstance(cost, Paging | ListSize) else None


def included(selection: SelectionNode, variables: VariableValues) -> bool:
    """@skip and @include, as execution reads them (skip wins)."""
    if not selection.directives:
        return True
    skip = get_directive_values(GraphQLSkipDirective, selection, variables)
    if skip and skip["if"]:
        return False
    include = get_directive_values(GraphQLIncludeDirective, selection, variables)
    return not (include and not include["if"])


def strawberry_field_of(definition: GraphQLField) -> Any:
    """The Strawberry field a GraphQL field was made from (None for introspection's)."""
    return (definition.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)


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

    With `check_pages`, each connection's page arguments are checked as its resolver checks
    them (BadUserInput): a mutation's payload is resolved after the write, so a page argument
    refused only then would report an error for a change that was nonetheless made.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: VariableValues,
        limits: QueryLimits,
        *,
        check_pages: bool = False,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.limits = limits
        self.check_pages = check_pages
        self._fragment_estimates: dict[tuple[str, str, int], int] = {}
        self._open: set[str] = set()
        # The arguments selection sets inherit, kept so that their ids stay unique.
        self._inherited: list[Arguments] = [_NO_ARGUMENTS]

    def of_operation(self, operation: OperationDefinitionNode) -> int:
        """Raises GraphQLError when an argument does not coerce (execution would report it)."""
        root = self.schema.get_root_type(operation.operation)
        return self._selections(operation.selection_set, root, _NO_ARGUMENTS) if root else 0

    def _selections(
        self, selection_set: SelectionSetNode, parent: CompositeType, inherited: Arguments
    ) -> int:
        """Nodes a selection set asks for, for one `parent` object; `inherited` are the
        arguments of the field that returned the parent."""
        total = 0
        for selection in selection_set.selections:
            if not self._included(selection):
                continue  # @skip or @include leaves it out: execution will not resolve it
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, inherited)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self._narrow(parent, condition.name.value) if condition else parent
                if target is not None:
                    total += self._selections(selection.selection_set, target, inherited)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, parent, inherited)
        return total

    def _narrow(self, parent: CompositeType, condition: str) -> CompositeType | None:
        """The type a fragment on `condition` is resolved as within `parent`; None when it
        cannot apply (a Session is never a User): execution skips it, and so does the walk."""
        found = self.schema.get_type(condition)
        target = found if isinstance(found, CompositeType) else None
        if target is None or not isinstance(parent, GraphQLObjectType):
            return target
        if target is parent:
            return parent
        if isinstance(target, GraphQLInterfaceType) and target in parent.interfaces:
            return parent  # still the same object: the interface's fields are its fields
        return None

    def _included(self, selection: SelectionNode) -> bool:
        return included(selection, self.variables)

    def _fragment(self, name: str, parent: CompositeType, inherited: Arguments) -> int:
        key = (name, parent.name, id(inherited))
        estimate = self._fragment_estimates.get(key)
        if estimate is None:
            fragment = self.fragments.get(name)
            if fragment is None or name in self._open:
                return 0  # validation has refused such a document already
            target = self._narrow(parent, fragment.type_condition.name.value)
            if target is None:
                return 0
            self._open.add(name)
            estimate = self._selections(fragment.selection_set, target, inherited)
            self._open.discard(name)
            self._fragment_estimates[key] = estimate
        return estimate

    def _field(self, field: FieldNode, parent: CompositeType, inherited: Arguments) -> int:
        definition = parent.fields.get(field.name.value)
        if definition is None:
            return 0  # __typename, or an unknown field that validation reports
        arguments = get_argument_values(definition, field, self.variables)
        cost = declared_cost(definition)
        # The nodes the field itself counts, and how many parents its selections have.
        count, parents = 0, 1
        if isinstance(cost, Paging):
            if self.check_pages:
                self._check_page(cost, field, arguments)
            parents = cost.page_size(self.limits, arguments)
            count = max(parents, 1)
        elif isinstance(cost, ListSize):
            items = _argument_at(inherited if cost.of_parent else arguments, cost.argument)
            count = parents = len(items) if isinstance(items, list) else 0
        named = get_named_type(definition.type)
        nested = 0
        if field.selection_set is not None and isinstance(named, CompositeType):
            if arguments:
                self._inherited.append(arguments)
            nested = self._selections(field.selection_set, named, arguments or _NO_ARGUMENTS)
        return count + parents * nested

    def _check_page(self, paging: Paging, field: FieldNode, arguments: Arguments) -> None:
        try:
            paging.check(self.limits, arguments)
        except BadUserInput as error:
            shown = field.alias or field.name
            message = f"{shown.value}: {error.message}"
            raise Refused(message, field, extensions=error.extensions) from None


class Refused(GraphQLError):
    """A request refused before it runs: an argument that does not coerce (a null given to a
    non-null argument through a variable with a default), or a mutation payload's page."""


def node_limit_errors(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: VariableValues,
    limits: QueryLimits,
) -> list[GraphQLError]:
    """Why the operation must not run (over the node limit, an argument that does not coerce,
    a refused page in a mutation's payload), or nothing when it may.

    Execution would report an argument that does not coerce only at its field, if it reached
    it, and after a mutation's write: an estimate that could not be made must not let the
    request run unchecked.
    """
    estimate = NodeEstimate(
        schema,
        fragments,
        variables,
        limits,
        check_pages=operation.operation == OperationType.MUTATION,
    )
    try:
        nodes = estimate.of_operation(operation)
    except Refused as error:
        return [error]
    except GraphQLError as error:
        refusal: MemqlError = BadUserInput(error.message)
        return [Refused(error.message, error.nodes, extensions=refusal.extensions)]
    if nodes <= limits.max_nodes:
        return []
    too_many = QueryTooComplex(
        f"this query could return up to {nodes:,} nodes; the limit is {limits.max_nodes:,}: "
        "ask for smaller pages (first/last) or nest fewer connections"
    )
    return [as_graphql_error(too_many, nodes=nodes)]
