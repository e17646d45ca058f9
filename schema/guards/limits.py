"""Limits on the document itself, checked before it is validated or run: tokens, fields once
fragments are expanded, overlapping fields, depth, aliases, introspection. Exceeding one is
QUERY_TOO_COMPLEX, before any resolver (and so any database call) runs;
schema.guards.node_estimate bounds what it may return."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    OverlappingFieldsCanBeMergedRule,
    ValidationContext,
)
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
from schema.context import Context
from schema.guards.overlaps import Overlaps
from schema.guards.walk import Expanded, expand

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


class FieldLimit(SchemaExtension):
    """Expands the document right after parsing (schema.guards.walk) and refuses it, before
    any validation rule walks it, when it is too large once expanded; the expansion is kept on
    the request's Context for the guards that follow.

    List it before ParserCache: its code after `yield` then runs once the document is parsed.
    Raising there ends the request with that error, as a parse error would.
    """

    def __init__(self, limits: QueryLimits) -> None:
        self.max_fields = limits.max_fields
        self.max_pairs = limits.max_overlapping_fields

    def on_parse(self) -> Iterator[None]:
        yield
        execution_context = self.execution_context
        context = execution_context.context
        if not isinstance(context, Context):
            context = None
        elif context.checked is not None:
            # Parsed and expanded by the WebSocket handler before it ran the operation: run that
            # document, so that the guards walk the expansion already made.
            query, expanded = context.checked
            if query == execution_context.query and expanded.document is not None:
                execution_context.graphql_document = expanded.document
                context.expansion = expanded
                return
        document = execution_context.graphql_document
        if document is not None:
            expanded = check_expansion(document, self.max_fields, self.max_pairs)
            if context is not None:
                context.expansion = expanded


def check_expansion(document: DocumentNode, max_fields: int, max_pairs: int) -> Expanded:
    """The document expanded; raises QUERY_TOO_COMPLEX when it is too large so (see
    schema.guards.walk and schema.guards.overlaps): FieldLimit's check, also run by GraphQL
    over WebSocket."""
    expanded = expand(document, max_fields)
    Overlaps(expanded, max_pairs).check()
    return expanded


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
