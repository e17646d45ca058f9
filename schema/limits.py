"""Limits against abusive queries: fields once fragments are expanded, depth, aliases, tokens,
introspection, and a static estimate of how many nodes a query can return. Exceeding one is
QUERY_TOO_COMPLEX, before any resolver (and so any database call) runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    ValidationContext,
    VariableValues,
    get_argument_values,
    get_directive_values,
    get_named_type,
    get_operation_ast,
    get_variable_values,
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

from app.errors import BadUserInput, QueryTooComplex
from app.settings import Settings
from schema.errors import as_graphql_error
from schema.pagination import page_request

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


class NodeEstimate:
    """GitHub's rule: each connection may return first/last (or the default page size) nodes
    for every node of the connection it is nested in, and counts at least one node per parent
    (a page of none still costs a database query for each); a list field counts a node per item
    asked for (`nodes(ids:)`, the memories `addMemory` adds). The query's estimate is the sum.

    Arguments are read as execution will see them: variables coerced, defaults applied, and
    what @skip or @include leaves out not counted. What a selection set asks for is
    proportional to how many parents it is resolved for, so each is estimated for one parent
    and scaled; a fragment's estimate is kept, so spreading it again
    costs one multiplication, and the walk is linear in the document.

    With `check_pages`, each connection's page arguments are checked as its resolver would
    check them (BadUserInput): a mutation's payload is resolved after the write, so a page
    argument refused only then would report an error for a change that was nonetheless made.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: VariableValues,
        settings: Settings,
        *,
        check_pages: bool = False,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.settings = settings
        self.check_pages = check_pages
        self._fragment_estimates: dict[tuple[str, str, int], int] = {}
        self._open: set[str] = set()

    def of_operation(self, operation: OperationDefinitionNode) -> int:
        """Raises GraphQLError when an argument does not coerce (execution reports it)."""
        root = self.schema.get_root_type(operation.operation)
        return self._selections(operation.selection_set, root, 1) if root else 0

    def _selections(
        self, selection_set: SelectionSetNode, parent: CompositeType, added: int
    ) -> int:
        """Nodes a selection set asks for, for one `parent` object; `added` is how many memories
        the `addMemory` it is in adds (and so lists in its payload)."""
        total = 0
        for selection in selection_set.selections:
            if not self._included(selection):
                continue  # @skip or @include leaves it out: execution will not resolve it
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, added)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self._narrow(parent, condition.name.value) if condition else parent
                if target is not None:
                    total += self._selections(selection.selection_set, target, added)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, parent, added)
        return total

    def _narrow(self, parent: CompositeType, condition: str) -> CompositeType | None:
        """The type a fragment on `condition` is resolved as within `parent`; None when it
        cannot apply (a Session is never a User): execution skips it, and so does the walk."""
        target = self._type(condition)
        if target is None or not isinstance(parent, GraphQLObjectType):
            return target
        if target is parent:
            return parent
        if isinstance(target, GraphQLInterfaceType) and target in parent.interfaces:
            return parent  # still the same object: the interface's fields are its fields
        return None

    def _included(self, selection: SelectionNode) -> bool:
        """@skip and @include, as execution reads them (skip wins)."""
        if not selection.directives:
            return True
        skip = get_directive_values(GraphQLSkipDirective, selection, self.variables)
        if skip and skip["if"]:
            return False
        include = get_directive_values(GraphQLIncludeDirective, selection, self.variables)
        return not (include and not include["if"])

    def _fragment(self, name: str, parent: CompositeType, added: int) -> int:
        key = (name, parent.name, added)
        estimate = self._fragment_estimates.get(key)
        if estimate is None:
            fragment = self.fragments.get(name)
            if fragment is None or name in self._open:
                return 0  # validation has refused such a document already
            target = self._narrow(parent, fragment.type_condition.name.value)
            if target is None:
                return 0
            self._open.add(name)
            estimate = self._selections(fragment.selection_set, target, added)
            self._open.discard(name)
            self._fragment_estimates[key] = estimate
        return estimate

    def _field(self, field: FieldNode, parent: CompositeType, added: int) -> int:
        name = field.name.value
        definition = parent.fields.get(name)
        if definition is None:
            return 0  # __typename, or an unknown field that validation reports
        arguments = get_argument_values(definition, field, self.variables)
        named = get_named_type(definition.type)
        # The nodes the field itself counts, and how many parents its selections have.
        count, parents = 0, 1
        if named.name.endswith("Connection"):
            if self.check_pages:
                self._check_page(named.name, field, arguments)
            parents = self._page_size(arguments)
            count = max(parents, 1)
        elif _is_list(definition.type) and isinstance(ids := arguments.get("ids"), list):
            count = parents = len(ids)
        elif (parent.name, name) == ("AddMemoryPayload", "memories"):
            count = parents = added
        if (parent.name, name) == ("Mutation", "addMemory"):
            added = len(arguments["input"]["memories"])
        nested = 0
        if field.selection_set is not None and isinstance(named, CompositeType):
            nested = self._selections(field.selection_set, named, added)
        return count + parents * nested

    def _check_page(self, connection: str, field: FieldNode, arguments: Mapping[str, Any]) -> None:
        kind = CURSOR_KINDS.get(connection)
        if kind is None:
            return
        try:
            page_request(
                kind,
                self.settings,
                first=arguments.get("first"),
                after=arguments.get("after"),
                last=arguments.get("last"),
                before=arguments.get("before"),
            )
        except BadUserInput as error:
            shown = field.alias or field.name
            raise Refused(
                f"{shown.value}: {error.message}", field, extensions=error.extensions
            ) from None

    def _page_size(self, arguments: Mapping[str, Any]) -> int:
        sizes: list[int] = [
            arguments[name] for name in ("first", "last") if arguments.get(name) is not None
        ]
        if not sizes:
            return self.settings.default_page_size
        # The resolvers refuse a size over the maximum; clamped, the estimate stays small too.
        return min(max(max(sizes), 0), self.settings.max_page_size)

    def _type(self, name: str) -> CompositeType | None:
        found = self.schema.get_type(name)
        return found if isinstance(found, CompositeType) else None


CURSOR_KINDS = {
    "UserConnection": "user",
    "SessionConnection": "session",
    "MemoryConnection": "memory",
}
"""The cursor kind of each connection type, as its resolver passes it to page_request."""


class Refused(GraphQLError):
    """A request refused before it runs: an argument that does not coerce (a null given to a
    non-null argument through a variable with a default), or a mutation payload's page."""


def _is_list(type_: Any) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


class NodeLimit(SchemaExtension):
    """Refuses, before execution starts, a query whose node estimate is over the limit.

    It runs after validation (which is cached per document) because the estimate depends on
    this request's variables; setting `result` is Strawberry's way to skip execution.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.result is None:
            try:
                nodes = self._estimate()
            except Refused as error:
                context.result = ExecutionResult(data=None, errors=[error])
                nodes = None
            if nodes is not None and nodes > self.settings.max_nodes:
                context.result = ExecutionResult(
                    data=None,
                    errors=[
                        as_graphql_error(
                            QueryTooComplex(
                                f"this query could return up to {nodes:,} nodes; the limit is "
                                f"{self.settings.max_nodes:,}: ask for smaller pages "
                                "(first/last) or nest fewer connections"
                            ),
                            nodes=nodes,
                        )
                    ],
                )
        yield

    def _estimate(self) -> int | None:
        """The estimate of the operation about to run; None when there is no such operation or
        its variables do not coerce: execution then reports the error, and runs nothing.

        Raises Refused when an argument (a directive's too) does not coerce, or a mutation's
        payload asks for a page its resolver would refuse. Execution would report the first
        only at that field, if it reached it, and after a mutation's write: an estimate that
        could not be made must not let the request run unchecked.
        """
        context = self.execution_context
        document = context.graphql_document
        if document is None:
            return None
        operation = get_operation_ast(document, context.operation_name)
        if operation is None:
            return None
        schema = context.schema._schema
        variables = get_variable_values(
            schema, operation.variable_definitions or (), context.variables or {}
        )
        if isinstance(variables, list):
            return None
        fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        estimate = NodeEstimate(
            schema,
            fragments,
            variables,
            self.settings,
            check_pages=operation.operation == OperationType.MUTATION,
        )
        try:
            return estimate.of_operation(operation)
        except Refused:
            raise
        except GraphQLError as error:
            raise Refused(
                error.message, error.nodes, extensions=BadUserInput(error.message).extensions
            ) from None


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
        lambda: NodeLimit(settings),
    ]
