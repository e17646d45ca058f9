"""Filter helpers shared by the stores: a filter as cheap as it can be on both stores."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.db import Document


def any_of(values: Iterable[Any]) -> Any:
    """A filter value matching any of `values`: `$in`, or the value itself when there is one.
    The same to MongoDB; mongomock evaluates an operator several times slower per document
    than an equality, and looking up one key is the common case."""
    wanted = list(values)
    return wanted[0] if len(wanted) == 1 else {"$in": wanted}


def all_of(*parts: Document) -> Document:
    """All of `parts`: merged into one filter where no two name the same field (mongomock
    evaluates `$and` several times slower per document), else `$and`."""
    parts = tuple(part for part in parts if part)
    if not parts:
        return {}
    names = [name for part in parts for name in part]
    if len(names) == len(set(names)) and not any(name.startswith("$") for name in names):
        return {name: value for part in parts for name, value in part.items()}
    return parts[0] if len(parts) == 1 else {"$and": list(parts)}
