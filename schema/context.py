"""Per-request state handed to every resolver: the caller's store, settings, loaders and request
id; and the operationName the client sent, with the name of the operation that ran (for the log)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from starlette.requests import Request

from app.settings import Settings
from app.store import ViewerStore
from schema.guards.walk import Expanded
from schema.loaders import Loaders


@dataclass
class Context:
    store: ViewerStore
    """The stores bound to the caller: every read and write is confined to what it may do."""
    settings: Settings
    request_id: str = "-"
    request: Request | None = None
    requested_operation_name: str | None = None
    operation_name: str | None = None
    completed_mutations: list[str] = field(default_factory=list)
    """The response keys of the mutation fields that ran, in order."""
    checked: tuple[str, Expanded] | None = field(default=None, repr=False)
    """A query and its document, parsed and expanded before the request ran (GraphQL over
    WebSocket checks each operation before it starts): the request runs that document."""
    expansion: Expanded | None = field(default=None, init=False, repr=False)
    """The document expanded once for the request's guards (schema.guards.walk)."""
    _loaders: Loaders | None = field(default=None, init=False, repr=False)

    @property
    def loaders(self) -> Loaders:
        """The DataLoaders, made when first used (a subscription's event may use none)."""
        if self._loaders is None:
            self._loaders = Loaders(self.store)
        return self._loaders

    def renew_loaders(self) -> None:
        """Empty loaders: what was loaded before a mutation may have changed since."""
        self._loaders = None


@runtime_checkable
class OperationContexts(Protocol):
    """What a connection that runs many operations (GraphQL over WebSocket) hands the schema as
    its context: each operation gets a `Context` of its own, as each HTTP request does."""

    def for_operation(self, requested_operation_name: str | None, query: str | None) -> Context: ...
