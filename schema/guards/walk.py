"""One expansion of a document, shared by every request guard.

`expand` walks each operation and fragment definition once, with every fragment spread
resolved: a fragment's `Selections` are made the first time it is spread and the same object
is linked from every other spread of it. The result has the size of the document, not of its
expansion, yet says how many fields and how many levels each selection set has once expanded,
so a document that would expand too far is refused in linear time, before validation walks it.
The guards that follow (schema.guards) walk these `Selections`, never the fragments.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    ExecutableDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.language.parser import MAX_NESTING_DEPTH

from app.errors import QueryTooComplex
from schema.errors import as_graphql_error


@dataclass(frozen=True, slots=True, eq=False)
class Field:
    """A field, with its selections (None for a leaf)."""

    node: FieldNode
    selections: Selections | None

    @property
    def key(self) -> str:
        """Its response name: the alias, else the field's name."""
        return (self.node.alias or self.node.name).value


@dataclass(frozen=True, slots=True, eq=False)
class Group:
    """An inline fragment or a fragment spread: selections applied under a type condition.
    The selections of every spread of one fragment are one object."""

    node: InlineFragmentNode | FragmentSpreadNode
    type_condition: str | None
    selections: Selections

    @property
    def spread(self) -> bool:
        return isinstance(self.node, FragmentSpreadNode)


@dataclass(frozen=True, slots=True, eq=False)
class Selections:
    """A selection set with its fragment spreads resolved; `fields` and `nesting` count it
    expanded (fields stop counting past the cap: nothing needs to know by how much)."""

    items: tuple[Field | Group, ...]
    fields: int
    nesting: int


class Expanded:
    """A document's operations and fragments, each fragment spread resolved (see `expand`)."""

    def __init__(
        self,
        operations: dict[int, Selections],
        fragments: dict[str, Selections],
        definitions: tuple[ExecutableDefinitionNode, ...],
        document: DocumentNode | None = None,
    ) -> None:
        self._operations = operations
        self.fragments = fragments
        self.definitions = definitions
        self.document = document
        """The document expanded, when `expand` was given one."""

    def of(self, operation: OperationDefinitionNode) -> Selections | None:
        """The operation's selections; None for an operation of another document."""
        return self._operations.get(id(operation))

    def roots(self) -> Iterator[Selections]:
        """The selections of every operation and every fragment definition (validation checks
        fragments no operation spreads too)."""
        yield from self._operations.values()
        yield from self.fragments.values()


class _Expansion:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode], cap: int) -> None:
        self.definitions = fragments
        self.cap = cap
        self.made: dict[str, Selections] = {}
        self.open: set[str] = set()

    def selections(self, selection_set: SelectionSetNode, depth: int) -> Selections:
        """The selection set found `depth` levels deep; nesting is counted as graphql-core's
        parser and validation count it."""
        if depth > MAX_NESTING_DEPTH:
            raise _too_deep()
        items: list[Field | Group] = []
        fields, nesting = 0, 1
        for selection in selection_set.selections:
            item: Field | Group
            inner: Selections | None
            if isinstance(selection, FieldNode):
                inner = (
                    self.selections(selection.selection_set, depth + 1)
                    if (selection.selection_set)
                    else None
                )
                item = Field(selection, inner)
                fields += 1
            elif isinstance(selection, InlineFragmentNode):
                inner = self.selections(selection.selection_set, depth + 1)
                condition = selection.type_condition
                item = Group(selection, condition.name.value if condition else None, inner)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection, depth)
                definition = self.definitions[selection.name.value]
                item = Group(selection, definition.type_condition.name.value, inner)
            else:
                continue
            items.append(item)
            if inner is not None:
                fields = min(fields + inner.fields, self.cap)
                nesting = max(nesting, 1 + inner.nesting)
        return Selections(tuple(items), min(fields, self.cap), nesting)

    def fragment(self, spread: FragmentSpreadNode, depth: int) -> Selections:
        name = spread.name.value
        definition = self.definitions.get(name)
        if definition is None:
            raise GraphQLError(f"Unknown fragment '{name}'.", spread)
        if name in self.open:
            raise GraphQLError(f"Cannot spread fragment '{name}' within itself.", spread)
        made = self.made.get(name)
        if made is None:
            self.open.add(name)
            made = self.made[name] = self.selections(definition.selection_set, depth + 1)
            self.open.discard(name)
        if depth + made.nesting > MAX_NESTING_DEPTH:
            raise _too_deep()
        return made


def expand(
    definitions: DocumentNode | Iterable[ExecutableDefinitionNode], max_fields: int
) -> Expanded:
    """The document's operations and fragments, expanded once (see the module's docstring).

    Raises a GraphQLError when the operations together, or a fragment on its own, select more
    than `max_fields` fields once expanded, nest deeper than graphql-core allows, or spread an
    unknown fragment or a fragment within itself (validation, which would report these, must not
    walk such a document)."""
    listed = definitions.definitions if isinstance(definitions, DocumentNode) else definitions
    executable = tuple(
        definition
        for definition in listed
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode)
    )
    fragments = {
        definition.name.value: definition
        for definition in executable
        if isinstance(definition, FragmentDefinitionNode)
    }
    expansion = _Expansion(fragments, max_fields + 1)
    operations: dict[int, Selections] = {}
    fields = 0
    for definition in executable:
        if isinstance(definition, OperationDefinitionNode):
            selections = expansion.selections(definition.selection_set, 1)
            operations[id(definition)] = selections
            fields = min(fields + selections.fields, max_fields + 1)
    if fields > max_fields:
        raise too_many_fields(max_fields)
    for name, definition in fragments.items():
        if name not in expansion.made:
            expansion.made[name] = expansion.selections(definition.selection_set, 1)
        if expansion.made[name].fields > max_fields:
            raise too_many_fields(max_fields)
    document = definitions if isinstance(definitions, DocumentNode) else None
    return Expanded(operations, expansion.made, executable, document)


def too_many_fields(max_fields: int) -> GraphQLError:
    return as_graphql_error(
        QueryTooComplex(
            f"this document selects more than {max_fields:,} fields once its fragment spreads "
            "are expanded (each spread counts its fragment's fields again): select fewer fields "
            "or spread fragments fewer times"
        )
    )


def _too_deep() -> GraphQLError:
    return as_graphql_error(
        QueryTooComplex(
            f"this document nests selections more than {MAX_NESTING_DEPTH} levels deep once "
            "its fragment spreads are expanded: spread fragments within fragments less deeply"
        )
    )
