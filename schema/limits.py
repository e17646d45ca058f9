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
from app.settings import Settings
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
        self.fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
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
            raise as_graphql_error(
                QueryTooComplex(
                    f"this document selects more than {self.max_fields:,} fields once its "
                    "fragment spreads are expanded (each spread counts its fragment's fields "
                    "again): select fewer fields or spread fragments fewer times"
                )
            )

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


def _too_deep() -> GraphQLError:
    return as_graphql_error(
        QueryTooComplex(
            f"this document nests selections more than {MAX_NESTING_DEPTH} levels deep once "
            "its fragment spreads are expanded: spread fragments within fragments less deeply"
        )
    )


class FieldLimit(SchemaExtension):
    """Measures the document right after parsing (see Expansion) and refuses it, before any
    validation rule walks it, when it is too large once expanded.

    List it before ParserCache: its code after `yield` then runs once the document is parsed.
    Raising there ends the request with that error, as a parse error would.
    """

    def __init__(self, settings: Settings) -> None:
        self.max_fields = settings.max_fields

    def on_parse(self) -> Iterator[None]:
        yield
        document = self.execution_context.graphql_document
        if document is not None:
            Expansion(document, self.max_fields).check()


def limit_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """The limit extensions, as factories. The validation rules are made once here, so the
    validation cache (keyed on the rule classes) keeps hitting across requests."""
    rules = [
        _coded_rule(rule, QueryTooComplex.code)
        for limiter in (
            QueryDepthLimiter(max_depth=settings.max_depth),
            MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        )
        for rule in limiter.validation_rules
    ]
    if not settings.introspection:
        rules.extend(DisableIntrospection().validation_rules)
    return [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: FieldLimit(settings),
        lambda: AddValidationRules(rules),
    ]
