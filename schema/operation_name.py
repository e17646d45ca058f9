"""Which operation of a document runs: the client's `operationName` is required when the
document has several, as the GraphQL spec's GetOperation says, and the name of the operation
that ran is kept for the request log."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import DocumentNode, ExecutionResult, OperationDefinitionNode, get_operation_ast
from strawberry.extensions import SchemaExtension

from app.errors import BadUserInput
from schema.context import Context
from schema.errors import as_graphql_error


class RequireOperationName(SchemaExtension):
    """Refuses a document of several operations sent without `operationName`, as the GraphQL
    spec's GetOperation does; Strawberry would run the first one, which may not be the one the
    client meant (a mutation, say). Runs before execution, so nothing is read or written.

    The operationName as the client sent it comes from the context (Strawberry's own
    `operation_name` falls back to the document's first operation); a context that is not
    memql's counts as none sent, so such a document is refused rather than guessed at."""

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        context = execution.context
        requested = context.requested_operation_name if isinstance(context, Context) else None
        if execution.result is None and document is not None:
            refusal = unchosen_operation(document, requested)
            if refusal is not None:
                execution.result = ExecutionResult(data=None, errors=[as_graphql_error(refusal)])
        yield


def unchosen_operation(document: DocumentNode, requested: str | None) -> BadUserInput | None:
    """The refusal of a document of several operations sent without `operationName`; None
    when it may run. Over HTTP and over WebSocket alike."""
    if requested is not None:
        return None
    names = [
        definition.name.value if definition.name else "(anonymous)"
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]
    if len(names) < 2:
        return None
    return BadUserInput(
        f"this document defines {len(names)} operations ({', '.join(names)}): give "
        "operationName to choose the one to run",
        field="operationName",
    )


class RecordOperationName(SchemaExtension):
    """Puts the executed operation's name in the context, for the request log: only a name the
    document defines, never the client's `operationName` as given (it may name nothing)."""

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        finally:
            context = self.execution_context.context
            document = self.execution_context.graphql_document
            if isinstance(context, Context) and document is not None:
                operation = get_operation_ast(document, self.execution_context.operation_name)
                if operation is not None and operation.name is not None:
                    context.operation_name = operation.name.value
