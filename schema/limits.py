"""Limits on the document itself, checked before it is validated or run: tokens, fields once
fragments are expanded, depth, aliases, introspection. Exceeding one is QUERY_TOO_COMPLEX, before
any resolver (and so any database call) runs; schema.node_limit bounds what it may return."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OverlappingFieldsCanBeMergedRule,
    SelectionSetNode,
    ValidationContext,
)
from graphql.language.parser import MAX_NESTING_DEPTH
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from app.errors import QueryTooComplex
from app.settings import QueryLimits
from schema.errors import as_graphql_error

CompositeType = GraphQLObjectType | GraphQLInterfaceType


class _CodedContext:
    """A validation context whose reported errors carry `extensions.code`."""

    def __init__(self, context: ValidationContext, code: str) -> None:
        self._context = context
        self._code = code

    def report_error(self, error: GraphQLError) -> None:
        error.extensions = {**(error.extensions or {}), "code": self._code}
        self._context.report_error(error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _coded_rule(rule: type[ASTValidationRule], code: str) -> type[ASTValidationRule]:
    class CodedRule(rule):  # type: ignore[valid-type,misc]
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(_CodedContext(context, code))

    CodedRule.__name__ = f"Coded{rule.__name__}"
    return CodedRule


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


class Expansion:
    """The size of a document's operations with every fragment spread expanded, measured in one
    pass: each fragment once, however often it is spread.

    Strawberry's depth and alias limiters, and the node estimate, walk the expanded document, so
    a few hundred tokens (`fragment F2 on Query { ...F1 ...F1 }`, and so on) can ask them to walk
    millions of fields. Measured before validation, such a document is refused in linear time.
    """

    def __init__(self, document: DocumentNode, max_fields: int) -> None:
        self.document = document
        self.max_fields = max_fields
        self.fragments = fragments_of(document)
        # Counts stop growing past the limit: nothing needs to know by how much it is exceeded.
        self._cap = max_fields + 1
        self._measured: dict[str, tuple[int, int]] = {}
        self._open: set[str] = set()

    def check(self) -> None:
        """Raises a GraphQLError when the expanded document is over a limit, or when a fragment
        is unknown or spreads itself (validation, which would report these, must not run)."""
        fields = 0
        for definition in self.document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                fields = min(fields + self._measure(definition.selection_set, 1)[0], self._cap)
        if fields > self.max_fields:
            raise _too_many_fields(self.max_fields)

    def _measure(self, selection_set: SelectionSetNode, depth: int) -> tuple[int, int]:
        """Fields and nesting of a selection set found `depth` levels deep in its operation;
        nesting is counted as graphql-core's parser and validation count it."""
        if depth > MAX_NESTING_DEPTH:
            raise _too_deep()
        fields, nesting = 0, 1
        for selection in selection_set.selections:
            if isinstance(selection, FragmentSpreadNode):
                inner_fields, inner_nesting = self._fragment(selection, depth)
            elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                inner_fields, inner_nesting = self._measure(selection.selection_set, depth + 1)
            else:
                inner_fields, inner_nesting = 0, 0
            if isinstance(selection, FieldNode):
                inner_fields += 1
            fields = min(fields + inner_fields, self._cap)
            nesting = max(nesting, 1 + inner_nesting)
        return fields, nesting

    def _fragment(self, spread: FragmentSpreadNode, depth: int) -> tuple[int, int]:
        name = spread.name.value
        fragment = self.fragments.get(name)
        if fragment is None:
            raise GraphQLError(f"Unknown fragment '{name}'.", spread)
        if name in self._open:
            raise GraphQLError(f"Cannot spread fragment '{name}' within itself.", spread)
        measured = self._measured.get(name)
        if measured is None:
            self._open.add(name)
            measured = self._measure(fragment.selection_set, depth + 1)
            self._open.discard(name)
            self._measured[name] = measured
        if depth + measured[1] > MAX_NESTING_DEPTH:
            raise _too_deep()
        return measured


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
    validation runs, such a document is refused in linear time. A place selected n times makes
    n·(n-1)/2 pairs, each counted once more for every argument its fields compare; a document
    that selects each place once makes none.
    """

    def __init__(self, document: DocumentNode, max_pairs: int, max_fields: int) -> None:
        self.document = document
        self.max_pairs = max_pairs
        self.max_visits = max_fields
        self.fragments = fragments_of(document)
        self.pairs = 0
        self.visits = 0

    def check(self) -> None:
        """Raises a GraphQLError when the document makes more pairs than allowed."""
        for definition in self.document.definitions:
            if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
                self._walk(definition.selection_set, _Place(), set())

    def _walk(self, selection_set: SelectionSetNode, place: _Place, spread: set[str]) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self._field(selection, place, spread)
            elif isinstance(selection, InlineFragmentNode):
                self._walk(selection.selection_set, place, spread)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in spread:
                    self._walk(fragment.selection_set, place, spread | {name})

    def _field(self, field: FieldNode, place: _Place, spread: set[str]) -> None:
        self.visits += 1
        if self.visits > self.max_visits:
            # Only fragments no operation uses get here (Expansion measured the operations).
            raise _too_many_fields(self.max_visits)
        key = (field.alias or field.name).value
        child = place.children.get(key)
        if child is None:
            child = place.children[key] = _Place()
        # Validation compares the new field with each one already there, arguments too.
        self.pairs += child.fields * (1 + len(field.arguments or ()))
        child.fields += 1
        if self.pairs > self.max_pairs:
            raise as_graphql_error(
                QueryTooComplex(
                    f"this document selects some fields too many times at one place: over "
                    f"{self.max_pairs:,} pairs of fields (with their arguments) share a response "
                    "name once fragment spreads are expanded (a field selected n times at one "
                    "place makes n·(n-1)/2 pairs): select each field once per place"
                )
            )
        if field.selection_set is not None:
            self._walk(field.selection_set, child, spread)


def _too_many_fields(max_fields: int) -> GraphQLError:
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


class FieldLimit(SchemaExtension):
    """Measures the document right after parsing (see Expansion and Overlaps) and refuses it,
    before any validation rule walks it, when it is too large once expanded.

    List it before ParserCache: its code after `yield` then runs once the document is parsed.
    Raising there ends the request with that error, as a parse error would.
    """

    def __init__(self, limits: QueryLimits) -> None:
        self.max_fields = limits.max_fields
        self.max_pairs = limits.max_overlapping_fields

    def on_parse(self) -> Iterator[None]:
        yield
        document = self.execution_context.graphql_document
        if document is not None:
            check_expansion(document, self.max_fields, self.max_pairs)


def check_expansion(document: DocumentNode, max_fields: int, max_pairs: int) -> None:
    """Raises QUERY_TOO_COMPLEX for a document too large once its fragments are expanded (see
    Expansion and Overlaps): FieldLimit's check, also run by GraphQL over WebSocket."""
    Expansion(document, max_fields).check()
    Overlaps(document, max_pairs, max_fields).check()


def validation_work_budget(limits: QueryLimits) -> int:
    """The most units of work graphql-core's OverlappingFieldsCanBeMerged rule may spend on one
    document before it aborts validation. A document within `max_overlapping_fields` spends at
    most about three units a pair (tests/test_limits.py builds the worst it can); this bound
    holds should a shape make more."""
    return 5 * limits.max_overlapping_fields + 1000


def budgeted_overlap_rule(budget: int) -> type[ASTValidationRule]:
    """graphql-core's OverlappingFieldsCanBeMerged rule with its own work budget. graphql-core
    reads the budget from a process-wide module attribute (MAX_COMPLEXITY_BUDGET), so two
    schemas of different limits in one process would share whichever set it last; the rule's
    own per-document state (`rule_context`, which it makes in `__init__`) is the one place a
    schema's budget can live (tests/test_limits.py pins it)."""

    class BudgetedOverlappingFieldsRule(OverlappingFieldsCanBeMergedRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.rule_context.remaining_complexity_budget = budget

    return BudgetedOverlappingFieldsRule


class LimitRules(AddValidationRules):
    """Strawberry's AddValidationRules, with graphql-core's overlap rule replaced by one that
    spends this schema's validation work budget."""

    def __init__(
        self, rules: list[type[ASTValidationRule]], overlap_rule: type[ASTValidationRule]
    ) -> None:
        super().__init__(rules)
        self.overlap_rule = overlap_rule

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = tuple(
            self.overlap_rule if rule is OverlappingFieldsCanBeMergedRule else rule
            for rule in context.validation_rules
        ) + tuple(self.validation_rules)
        yield


def limit_extensions(limits: QueryLimits) -> list[Callable[[], SchemaExtension]]:
    """The limit extensions, as factories. The validation rules are made once here, so the
    validation cache (keyed on the rule classes) keeps hitting across requests."""
    rules = [
        _coded_rule(rule, QueryTooComplex.code)
        for limiter in (
            QueryDepthLimiter(max_depth=limits.max_depth),
            MaxAliasesLimiter(max_alias_count=limits.max_aliases),
        )
        for rule in limiter.validation_rules
    ]
    if not limits.introspection:
        rules.extend(DisableIntrospection().validation_rules)
    overlap_rule = budgeted_overlap_rule(validation_work_budget(limits))
    return [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: FieldLimit(limits),
        lambda: LimitRules(rules, overlap_rule),
    ]
