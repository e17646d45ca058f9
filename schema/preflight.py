"""Mutation documents of several fields are checked before their first write.

Mutation fields run one after another, and each payload is non-null, so a field refused after
another one wrote would answer `data: null` for a document that changed data (and a client
retrying it would write twice). Each mutation field declares its command (schema.commands),
whose `check` runs the store's own rules that no earlier field of the caller's can change
(input, the caller acting only for itself, admin-only fields, the `system` metadata key, sessions
and memories another user holds). When a document has more than one mutation field, every
field's check runs before the first write; a refusal is answered for the whole document, which
then writes nothing. What only running can tell (NOT_FOUND, ALREADY_EXISTS: an earlier field may
create or delete the thing) stops the document at its field, whose error says in
`extensions.completed` which fields ran and wrote before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableValues,
    get_argument_values,
)
from strawberry.types.base import (
    StrawberryList,
    StrawberryOptional,
    get_object_definition,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.utils.str_converters import to_camel_case

from app.errors import MemqlError
from app.store import ViewerStore
from schema.errors import input_field
from schema.node_limit import included, strawberry_field_of

COMMAND = "memql.command"
"""The key of a mutation field's metadata under which its command class is declared."""


def resolved_value(type_: Any, value: Any) -> Any:
    """A coerced argument value as Strawberry hands it to a resolver: input objects as their
    classes, enums as their members."""
    if value is None:
        return None
    if isinstance(type_, StrawberryOptional):
        return resolved_value(type_.of_type, value)
    if isinstance(type_, StrawberryList):
        return [resolved_value(type_.of_type, item) for item in value]
    if isinstance(type_, StrawberryEnumDefinition):
        return type_.wrapped_cls(value)
    if has_object_definition(type_):
        definition = get_object_definition(type_, strict=True)
        return type_(
            **{
                field.python_name: resolved_value(field.type, value[name])
                for field in definition.fields
                if (name := field.graphql_name or to_camel_case(field.python_name)) in value
            }
        )
    return value


class _RootFields:
    """The root fields a mutation operation runs, in order, as execution collects them."""

    def __init__(
        self, fragments: Mapping[str, FragmentDefinitionNode], variables: VariableValues
    ) -> None:
        self.fragments = fragments
        self.variables = variables
        self.fields: dict[str, FieldNode] = {}

    def collect(self, selection_set: SelectionSetNode, spread: frozenset[str]) -> None:
        for selection in selection_set.selections:
            if not included(selection, self.variables):
                continue
            if isinstance(selection, FieldNode):
                # Fields of one response key are merged and run once, with the first's arguments.
                self.fields.setdefault((selection.alias or selection.name).value, selection)
            elif isinstance(selection, InlineFragmentNode):
                self.collect(selection.selection_set, spread)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in spread:
                    self.collect(fragment.selection_set, spread | {name})


async def preflight_errors(
    store: ViewerStore,
    root: GraphQLObjectType,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: VariableValues,
) -> list[GraphQLError]:
    """Every declared check of the operation's mutation fields, run before any of them; the
    errors of those that refuse. Nothing is checked for a document of one field: its own
    resolver refuses it before it writes."""
    collected = _RootFields(fragments, variables)
    collected.collect(operation.selection_set, frozenset())
    if len(collected.fields) < 2:
        return []
    errors: list[GraphQLError] = []
    for key, node in collected.fields.items():
        definition = root.fields.get(node.name.value)
        strawberry_field = strawberry_field_of(definition) if definition else None
        command = (getattr(strawberry_field, "metadata", None) or {}).get(COMMAND)
        if definition is None or strawberry_field is None or command is None:
            continue
        coerced = get_argument_values(definition, node, variables)
        arguments = {
            argument.python_name: resolved_value(argument.type, coerced[name])
            for argument in strawberry_field.arguments
            if (name := argument.graphql_name or to_camel_case(argument.python_name)) in coerced
        }
        # Named as the field's resolver names them: inside its `input` object, when it has one.
        naming = input_field("input") if command.in_input else nullcontext()
        try:
            with naming:
                await command.of(**arguments).check(store)
        except MemqlError as error:
            errors.append(
                GraphQLError(
                    f"{key}: {error.message} (nothing was written: every field of the "
                    "document is checked before the first write)",
                    node,
                    original_error=error,
                    extensions=error.extensions,
                )
            )
    return errors
