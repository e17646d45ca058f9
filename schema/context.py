"""Per-request state handed to every resolver: the store, settings, loaders and request id; and
the operationName the client sent, with the name of the operation that ran (for the log)."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from app.auth import OPEN, Viewer
from app.settings import Settings
from app.store import Store
from schema.loaders import Loaders


@dataclass
class Context:
    store: Store
    settings: Settings
    request_id: str = "-"
    request: Request | None = None
    viewer: Viewer = OPEN
    requested_operation_name: str | None = None
    operation_name: str | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.renew_loaders()

    def renew_loaders(self) -> None:
        """Empty loaders: what was loaded before a mutation may have changed since."""
        self.loaders = Loaders(self.store)
