"""The client's GraphQL documents validate against memql's schema and its public contract, and
the async and sync clients offer the same methods."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    FieldNode,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    parse,
    validate,
)
from tests.contract import CONTRACT, require

from memql_client import AsyncMemqlClient, MemoryInput, MemqlClient, SessionFilter
from memql_client import operations as ops

ROOT = Path(__file__).resolve().parents[3]
PRINTED_SCHEMA = ROOT / "schema" / "schema.graphql"

EVERY_OPERATION: dict[str, ops.Operation[Any]] = {
    "node": ops.node("id"),
    "nodes": ops.nodes(["id"]),
    "user": ops.user("alice"),
    "users": ops.users(first=1),
    "session": ops.session("chat-1"),
    "sessions": ops.sessions(first=1, user_id="alice"),
    "memories": ops.memories("chat-1", last=50),
    "add_user": ops.add_user("alice", metadata={"a": 1}),
    "update_user": ops.update_user("alice", email="a@example.com"),
    "delete_user": ops.delete_user("alice"),
    "add_session": ops.add_session("chat-1", user_id="alice"),
    "update_session": ops.update_session("chat-1", metadata={"a": None}),
    "delete_session": ops.delete_session("chat-1"),
    "add_memory": ops.add_memory("chat-1", [MemoryInput("human", "hi")]),
    "update_memory": ops.update_memory("id", {"a": 1}),
    "delete_memories": ops.delete_memories("chat-1"),
    "purge_deleted": ops.purge_deleted(),
}
BEYOND_THE_CONTRACT: dict[str, ops.Operation[Any]] = {
    "search_memories": ops.search_memories("tea", session_id="chat-1", first=5),
    "sessions_filtered": ops.sessions(
        first=1, user_id="alice", filter=SessionFilter(metadata={"topic": "tea"})
    ),
}
"""Operations that need what memql adds to the contract (memory search, a session filter),
which the shared contract does not name (yet): checked against the printed schema only."""


@functools.cache
def schema_from(path: Path) -> GraphQLSchema:
    return build_schema(require(path).read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", [PRINTED_SCHEMA, CONTRACT], ids=["printed-schema", "contract"])
@pytest.mark.parametrize("name", sorted(EVERY_OPERATION))
def test_client_document_is_valid_against_the_schema(path: Path, name: str) -> None:
    operation = EVERY_OPERATION[name]
    assert validate(schema_from(path), parse(operation.document)) == []


@pytest.mark.parametrize("name", sorted(BEYOND_THE_CONTRACT))
def test_client_document_beyond_the_contract_is_valid_against_memqls_schema(name: str) -> None:
    operation = BEYOND_THE_CONTRACT[name]
    assert validate(schema_from(PRINTED_SCHEMA), parse(operation.document)) == []


def test_a_session_list_without_a_filter_names_only_the_contract() -> None:
    assert "SessionFilter" not in ops.sessions(first=1).document
    assert "SessionFilter" in BEYOND_THE_CONTRACT["sessions_filtered"].document


def root_fields(document: str) -> set[str]:
    return {
        selection.name.value
        for definition in parse(document).definitions
        if isinstance(definition, OperationDefinitionNode)
        for selection in definition.selection_set.selections
        if isinstance(selection, FieldNode)
    }


def test_client_covers_every_query_and_mutation_of_the_contract() -> None:
    contract = schema_from(CONTRACT)
    assert contract.query_type is not None and contract.mutation_type is not None
    fields = set(contract.query_type.fields) | set(contract.mutation_type.fields)
    used = set().union(*(root_fields(op.document) for op in EVERY_OPERATION.values()))
    assert used == fields


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_the_async_and_sync_clients_offer_the_same_methods() -> None:
    async_methods = public_methods(AsyncMemqlClient)
    sync_methods = public_methods(MemqlClient)
    assert set(async_methods) - {"aclose"} == set(sync_methods) - {"close"}
    for name in set(async_methods) & set(sync_methods):
        async_parameters = list(async_methods[name].parameters.values())
        assert async_parameters == list(sync_methods[name].parameters.values()), name
