"""Values a field reads as an attribute but that are loaded only if execution awaits them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    """A field's value that is loaded only when execution awaits it, so that a field nobody
    selects costs nothing."""

    __slots__ = ("load",)

    def __init__(self, load: Callable[[], Awaitable[T]]) -> None:
        self.load = load

    def __await__(self) -> Generator[Any, None, T]:
        return self.load().__await__()
