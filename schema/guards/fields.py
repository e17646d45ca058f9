"""What the guards read of a field: the Strawberry field it was made from (found by
Strawberry's `Schema.get_field_for_type`), the cost it declares, and whether @skip or @include
leaves a selection out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    GraphQLIncludeDirective,
    GraphQLSkipDirective,
    SelectionNode,
    VariableValues,
    get_directive_values,
)
from strawberry import Schema
from strawberry.types.field import StrawberryField

from schema.pagination import COST, ListSize, Paging


class SchemaFields:
    """A schema's Strawberry fields by GraphQL type and field name, each looked up once."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._found: dict[tuple[str, str], StrawberryField | None] = {}

    def field(self, type_name: str, field_name: str) -> StrawberryField | None:
        """The Strawberry field; None for introspection's fields and types."""
        key = (type_name, field_name)
        if key not in self._found:
            found = None
            if not type_name.startswith("__") and not field_name.startswith("__"):
                found = self.schema.get_field_for_type(field_name, type_name)
            self._found[key] = found
        return self._found[key]

    def cost(self, type_name: str, field_name: str) -> Paging | ListSize | None:
        """The cost the field declares in its metadata (schema.pagination), if any."""
        field = self.field(type_name, field_name)
        metadata: Mapping[str, Any] = field.metadata if field is not None else {}
        cost = (metadata or {}).get(COST)
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
