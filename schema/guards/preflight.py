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

from graphql import FieldNode, GraphQLError, GraphQLObjectType, VariableValues, get_argument_values
from strawberry import Schema
from strawberry.types.arguments import convert_arguments

from app.errors import MemqlError
from app.store import ViewerStore
from schema.errors import input_field
from schema.guards.fields import SchemaFields, included
from schema.guards.walk import Field, Selections

COMMAND = "memql.command"
"""The key of a mutation field's metadata under which its command class is declared."""


def root_fields(selections: Selections, variables: VariableValues) -> dict[str, FieldNode]:
    """The root fields a mutation operation runs, in order, as execution collects them: fields
    of one response key are merged and run once, with the first's arguments."""
    fields: dict[str, FieldNode] = {}

    def collect(selections: Selections) -> None:
        for item in selections.items:
            if not included(item.node, variables):
                continue
            if isinstance(item, Field):
                fields.setdefault(item.key, item.node)
            else:
                collect(item.selections)

    collect(selections)
    return fields


async def preflight_errors(
    store: ViewerStore,
    schema: Schema,
    fields: SchemaFields,
    root: GraphQLObjectType,
    selections: Selections,
    variables: VariableValues,
) -> list[GraphQLError]:
    """Every declared check of the operation's mutation fields, run before any of them; the
    errors of those that refuse. Nothing is checked for a document of one field: its own
    resolver refuses it before it writes."""
    collected = root_fields(selections, variables)
    if len(collected) < 2:
        return []
    errors: list[GraphQLError] = []
    for key, node in collected.items():
        definition = root.fields.get(node.name.value)
        strawberry_field = fields.field(root.name, node.name.value)
        metadata: Mapping[str, Any] = (strawberry_field.metadata or {}) if strawberry_field else {}
        command = metadata.get(COMMAND)
        if definition is None or strawberry_field is None or command is None:
            continue
        # The arguments as Strawberry converts them for the field's resolver.
        arguments = convert_arguments(
            get_argument_values(definition, node, variables),
            strawberry_field.arguments,
            scalar_registry=schema.schema_converter.scalar_registry,
            config=schema.config,
        )
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
