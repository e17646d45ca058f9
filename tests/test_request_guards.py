"""One expansion of a document feeds every request guard (schema.guards): the field and
overlap limits, the node estimate with a mutation's page check, and the preflight walk the
`Selections` that `walk.expand` made once for the request, over HTTP and over WebSocket."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from graphql import OperationDefinitionNode, SelectionSetNode, parse, visit
from graphql.language import Visitor

import schema.execution
import schema.guards.preflight
from app.web.http import create_app
from app.web.live_server import ServerThread
from app.web.serving import server_options
from schema.guards import walk
from schema.guards.node_estimate import NodeEstimate
from schema.guards.overlaps import Overlaps
from schema.guards.walk import Expanded, Selections
from tests.graphql_ws import socket_to
from tests.support.client import GraphQLClient
from tests.support.stores import make_settings

QUERY = """
query Pages {
  a: users(first: 2) { ...Page }
  b: users(first: 3) { ...Page }
}
fragment Page on UserConnection { totalCount edges { node { userId ...Named } } }
fragment Named on User { userId }
"""

MUTATION = """
mutation Two {
  first: addUser(input: { userId: "guards-1" }) { ...Added }
  second: addUser(input: { userId: "guards-2" }) { ...Added }
}
fragment Added on UserPayload { user { userId sessions(first: 5) { totalCount } } }
"""


def selection_sets(document: str) -> int:
    """How many selection sets the document's text has."""

    class Count(Visitor):
        found = 0

        def enter_selection_set(self, *args: Any) -> None:
            Count.found += 1

    visit(parse(document), Count())
    return Count.found


@dataclass
class Walks:
    """Each selection set `expand` walked, and what each guard was handed."""

    expanded: list[SelectionSetNode] = field(default_factory=list)
    overlaps: list[Expanded] = field(default_factory=list)
    estimated: list[Selections] = field(default_factory=list)
    preflighted: list[Selections] = field(default_factory=list)

    def assert_one_walk(self, document: str) -> None:
        # Every selection set of the text once: each fragment once, however often spread.
        assert len(self.expanded) == selection_sets(document)
        assert len({id(node) for node in self.expanded}) == len(self.expanded)
        [expanded] = self.overlaps
        [operation] = [
            definition
            for definition in expanded.definitions
            if isinstance(definition, OperationDefinitionNode)
        ]
        [estimated] = self.estimated
        assert estimated is expanded.of(operation)
        for selections in self.preflighted:
            assert selections is estimated


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> Walks:
    seen = Walks()
    expand_selections = walk._Expansion.selections
    overlaps_init = Overlaps.__init__
    of_operation = NodeEstimate.of_operation
    preflight = schema.guards.preflight.preflight_errors

    def expanding(self: Any, selection_set: SelectionSetNode, depth: int) -> Selections:
        seen.expanded.append(selection_set)
        return expand_selections(self, selection_set, depth)

    def overlapping(self: Overlaps, expanded: Expanded, max_pairs: int) -> None:
        seen.overlaps.append(expanded)
        overlaps_init(self, expanded, max_pairs)

    def estimating(self: NodeEstimate, operation: Any, selections: Selections) -> int:
        seen.estimated.append(selections)
        return of_operation(self, operation, selections)

    async def preflighting(*args: Any) -> Any:
        seen.preflighted.append(args[4])
        return await preflight(*args)

    monkeypatch.setattr(walk._Expansion, "selections", expanding)
    monkeypatch.setattr(Overlaps, "__init__", overlapping)
    monkeypatch.setattr(NodeEstimate, "of_operation", estimating)
    monkeypatch.setattr(schema.execution, "preflight_errors", preflighting)
    return seen


async def test_a_query_is_expanded_once_and_every_guard_walks_that_expansion(
    api: GraphQLClient, walks: Walks
) -> None:
    data = await api.data(QUERY)
    assert data == {"a": {"totalCount": 0, "edges": []}, "b": {"totalCount": 0, "edges": []}}
    walks.assert_one_walk(QUERY)
    assert walks.preflighted == []


async def test_a_mutation_document_is_expanded_once_for_its_estimate_and_preflight(
    api: GraphQLClient, walks: Walks
) -> None:
    data = await api.data(MUTATION)
    assert data["second"] == {"user": {"userId": "guards-2", "sessions": {"totalCount": 0}}}
    walks.assert_one_walk(MUTATION)
    assert len(walks.preflighted) == 1


async def test_an_operation_over_websocket_is_expanded_once(walks: Walks) -> None:
    """The WebSocket handler parses and expands each operation to refuse it before it starts;
    the operation then runs that document and its guards walk that expansion."""
    settings = make_settings()
    with ServerThread(create_app(settings), **server_options(settings)) as server:
        async with socket_to(server.url) as ws:
            assert await ws.init() == {"type": "connection_ack"}
            await ws.subscribe("1", QUERY)
            message = await ws.receive()
            assert message["type"] == "next", message
            assert message["payload"]["data"]["b"] == {"totalCount": 0, "edges": []}
            assert await ws.receive() == {"id": "1", "type": "complete"}
    walks.assert_one_walk(QUERY)
