"""Where memql reaches past a library's public API, because none serves, each reach is pinned
here or by the test its code names, so that an upgrade that moves it fails a test instead of
quietly turning memql's behaviour off:

- graphql-core's `ExecutionContext.execute_field` (schema.execution's leaf fast path): here.
- Strawberry's parse step keeping a document an `on_parse` extension set (Strawberry documents
  it for parser caches; schema.guards.limits.FieldLimit runs the WebSocket handler's document):
  tests/test_request_guards.py, which counts one expansion per WebSocket operation.
- graphql-core's token-limit message (schema.errors.is_token_limit_error): tests/test_limits.py.
- uvicorn's `H11Protocol` keep-alive timer (app.web.serving.SilentConnectionTimeout):
  tests/test_serving.py, a silent connection closed after the keep-alive time.
- mongomock's `Collection._store` and cursor internals (app.persistence): the pinned hashes and
  the property test of tests/test_embedded_indexes.py, and tests/test_snapshots.py.
"""

from __future__ import annotations

import inspect
from typing import Any

from graphql.execution.executor import Executor

from app.settings import QueryLimits
from schema.build import schema_with
from schema.execution import MemqlExecutor
from tests.support.client import GraphQLClient
from tests.support.stores import make_settings


def test_graphql_core_still_completes_each_field_through_execute_field() -> None:
    ours = inspect.signature(MemqlExecutor.execute_field)
    theirs = inspect.signature(Executor.execute_field)
    assert list(ours.parameters) == list(theirs.parameters)


async def test_the_leaf_fast_path_is_taken(api: GraphQLClient, monkeypatch: Any) -> None:
    """A graphql-core that stopped calling `execute_field` would answer the same, only slower:
    the plans the override makes show it is called."""
    executor: Any = schema_with(QueryLimits.of(make_settings())).execution_context_class
    assert issubclass(executor, MemqlExecutor)
    monkeypatch.setattr(executor, "leaf_plans", {})
    assert await api.data("{ users { totalCount } }") == {"users": {"totalCount": 0}}
    plan = executor.leaf_plans[("UserConnection", "totalCount")]
    assert plan is not None
    assert plan.attribute == "total_count"
