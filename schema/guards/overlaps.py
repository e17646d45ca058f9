"""The overlap limit: pairs of fields that select one place of the response, counted on the
document's expansion (schema.guards.walk) before validation compares them."""

from __future__ import annotations

from graphql import GraphQLError

from app.errors import QueryTooComplex
from schema.errors import as_graphql_error
from schema.guards.walk import Expanded, Field, Selections


class _Place:
    """One place of a document's response (a response path), and how many fields select it."""

    __slots__ = ("children", "fields")

    def __init__(self) -> None:
        self.fields = 0
        self.children: dict[str, _Place] = {}


class Overlaps:
    """Pairs of fields selecting one place of the response (the same response name under the
    same path), fragment spreads expanded, counted in one walk of each operation and fragment.

    Validation's OverlappingFieldsCanBeMerged rule compares every such pair, and the pairs
    below them, so its work grows with the square of how often a place is selected: 400 copies
    of `users { totalCount }` (1,600 tokens) kept it busy for over a second. Counted before
    validation runs, such a document is refused in linear time (the expansion already bounds
    the fields walked). A place selected n times makes n·(n-1)/2 pairs, each counted once more
    for every argument its fields compare; a document that selects each place once makes none.
    """

    def __init__(self, expanded: Expanded, max_pairs: int) -> None:
        self.expanded = expanded
        self.max_pairs = max_pairs
        self.pairs = 0

    def check(self) -> None:
        """Raises a GraphQLError when the document makes more pairs than allowed."""
        for selections in self.expanded.roots():
            self._walk(selections, _Place())

    def _walk(self, selections: Selections, place: _Place) -> None:
        for item in selections.items:
            if isinstance(item, Field):
                self._field(item, place)
            else:
                self._walk(item.selections, place)

    def _field(self, field: Field, place: _Place) -> None:
        key = field.key
        child = place.children.get(key)
        if child is None:
            child = place.children[key] = _Place()
        # Validation compares the new field with each one already there, arguments too.
        self.pairs += child.fields * (1 + len(field.node.arguments or ()))
        child.fields += 1
        if self.pairs > self.max_pairs:
            raise _too_many_pairs(self.max_pairs)
        if field.selections is not None:
            self._walk(field.selections, child)


def _too_many_pairs(max_pairs: int) -> GraphQLError:
    return as_graphql_error(
        QueryTooComplex(
            f"this document selects some fields too many times at one place: over "
            f"{max_pairs:,} pairs of fields (with their arguments) share a response "
            "name once fragment spreads are expanded (a field selected n times at one "
            "place makes n·(n-1)/2 pairs): select each field once per place"
        )
    )
