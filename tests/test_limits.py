"""Limits against abusive queries: refused with QUERY_TOO_COMPLEX before any
database call, and each one a setting."""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import strawberry.schema.schema
from graphql import (
    DocumentNode,
    GraphQLObjectType,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    OverlappingFieldsCanBeMergedRule,
    VariableValues,
    get_named_type,
    parse,
    validate,
)

import schema.guards.limits
from app.settings import QueryLimits, Settings
from app.web.playground import EXAMPLE_MUTATION, EXAMPLE_QUERY
from bench.validation import worst_documents
from schema import build_schema
from schema.errors import is_token_limit_error
from schema.guards.fields import SchemaFields
from schema.guards.limits import check_expansion, validation_work_budget
from schema.guards.node_estimate import NodeEstimate
from schema.guards.walk import expand
from schema.pagination import Paging
from tests.support.client import ForbiddenDatabase, GraphQLClient, running_app
from tests.support.data import add_session, add_user, raw_documents
from tests.support.stores import make_settings
from tests.test_frontend_docs import DOC as FRONTEND_DOC
from tests.test_frontend_docs import documents_in

README = Path(__file__).resolve().parent.parent / "README.md"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def nested_depth(depth: int) -> str:
    """A valid query `depth` levels deep: session → memories → edges → node → session → …"""
    query = "sessionId"
    levels = 1
    while levels + 4 <= depth:
        query = f"memories {{ edges {{ node {{ session {{ {query} }} }} }} }}"
        levels += 4
    return f'{{ session(sessionId: "s") {{ {query} }} }}'


NESTED_100 = (
    "{ users(first: 100) { edges { node { sessions(first: 100) { edges { node {"
    " memories(first: 100) { edges { node { content } } } } } } } } } }"
)
BENCH_NESTED = (
    "{ users(first: 10) { edges { node { sessions(first: 10) { edges { node {"
    " user { userId } memories(last: 10) { edges { node { session { sessionId } } } } } } } } } } }"
)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(nested_depth(20), id="depth-20"),
        pytest.param(
            "{ " + " ".join(f"a{i}: users {{ totalCount }}" for i in range(100)) + " }",
            id="100-aliases",
        ),
        pytest.param(NESTED_100, id="100x100x100"),
        pytest.param("{ users { " + "totalCount " * 2100 + "} }", id="2100-tokens"),
    ],
)
async def test_abusive_queries_are_refused_before_any_database_call(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    database = ForbiddenDatabase(api, monkeypatch)
    body = await api.post(query)
    assert [error["extensions"]["code"] for error in body["errors"]] == ["QUERY_TOO_COMPLEX"]
    assert "data" not in body
    assert database.calls == []


async def test_the_node_estimate_names_the_count(api: GraphQLClient) -> None:
    error = await api.error(NESTED_100)
    assert error["extensions"]["nodes"] == 100 + 100 * 100 + 100 * 100 * 100
    assert "10,000" in error["message"]


async def test_the_benchmarks_nested_query_is_within_every_limit(api: GraphQLClient) -> None:
    data = await api.data(BENCH_NESTED)
    assert data == {"users": {"edges": []}}


async def test_page_sizes_from_variables_count(api: GraphQLClient) -> None:
    query = (
        "query($n: Int) { users(first: $n) { edges { node { sessions(last: $n) "
        "{ totalCount } } } } }"
    )
    assert await api.code(query, {"n": 100}) == "QUERY_TOO_COMPLEX"
    assert (await api.data(query, {"n": 50}))["users"] == {"edges": []}


async def test_default_page_size_counts_when_first_and_last_are_missing() -> None:
    async with running_app(make_settings(max_nodes=400)) as api:
        # 20 users x 20 sessions (the default page size) = 420 nodes
        query = "{ users { edges { node { sessions { totalCount } } } } }"
        error = await api.error(query)
        assert error["extensions"]["nodes"] == 20 + 20 * 20


async def test_connections_inside_fragments_and_nodes_count(api: GraphQLClient) -> None:
    fragment = (
        "query { users(first: 100) { edges { node { ...S } } } }"
        " fragment S on User { sessions(first: 100) { totalCount } }"
    )
    assert await api.code(fragment) == "QUERY_TOO_COMPLEX"
    by_ids = (
        "query($ids: [ID!]!) { nodes(ids: $ids) "
        "{ ... on Session { memories(first: 100) { totalCount } } } }"
    )
    error = await api.error(by_ids, {"ids": ["x"] * 100})
    assert error["extensions"]["nodes"] == 100 + 100 * 100


async def test_a_mutation_payload_connection_counts_too(api: GraphQLClient) -> None:
    error = await api.error(
        'mutation { addMemory(input: {sessionId: "s", memories: [{role: "h", content: "c"}]})'
        " { session { memories(first: 100) { edges { node { session { memories(first: 100) {"
        " totalCount } } } } } } } }"
    )
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert (await api.data("{ sessions { totalCount } }"))["sessions"]["totalCount"] == 0


async def test_limits_follow_their_settings() -> None:
    settings = make_settings(max_depth=3, max_aliases=1, max_tokens=30, max_nodes=5)
    async with running_app(settings) as api:
        accepted = await api.data('{ session(sessionId: "s") { user { userId } } }')
        assert accepted == {"session": None}
        assert (
            await api.code('{ session(sessionId: "s") { memories { edges { node { id } } } } }')
            == "QUERY_TOO_COMPLEX"
        )
        assert await api.code("{ a: users { totalCount } b: users { totalCount } }") == (
            "QUERY_TOO_COMPLEX"
        )
        assert await api.code("{ users(first: 6) { totalCount } }") == "QUERY_TOO_COMPLEX"
        assert await api.code("{ users(first: 1) { " + "totalCount " * 30 + "} }") == (
            "QUERY_TOO_COMPLEX"
        )
        assert (await api.data("{ users(first: 5) { totalCount } }"))["users"]["totalCount"] == 0


async def test_apps_in_one_process_keep_their_own_limits_and_share_a_schema_when_equal() -> None:
    """The schema is built once per set of query limits; other settings do not split it."""
    strict = make_settings(max_depth=3, max_nodes=5)
    async with running_app(strict) as tight, running_app() as loose:
        for _ in range(2):  # interleaved, after each has answered once
            deep = '{ session(sessionId: "s") { memories { edges { node { id } } } } }'
            assert await tight.code(deep) == "QUERY_TOO_COMPLEX"
            assert await loose.data(deep) == {"session": None}
            assert await tight.code("{ users(first: 6) { totalCount } }") == "QUERY_TOO_COMPLEX"
            assert (await loose.data("{ users(first: 6) { totalCount } }"))["users"] == {
                "totalCount": 0
            }
    assert build_schema(make_settings()) is build_schema(make_settings(graphiql=False))
    assert build_schema(strict) is build_schema(make_settings(max_depth=3, max_nodes=5))
    assert build_schema(strict) is not build_schema(make_settings())


async def test_introspection_can_be_turned_off() -> None:
    introspection = "{ __schema { queryType { name } } }"
    async with running_app(make_settings(introspection=False)) as api:
        body = await api.post(introspection)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "introspection" in body["errors"][0]["message"].lower()
        assert (await api.data("{ users { totalCount } }"))["users"]["totalCount"] == 0
    async with running_app() as api:
        assert (await api.data(introspection))["__schema"]["queryType"]["name"] == "Query"


async def test_a_body_over_the_limit_is_413_before_parsing(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = ForbiddenDatabase(api, monkeypatch)
    big = "x" * (1024 * 1024)
    response = await api.http.post(
        "/graphql",
        json={
            "query": 'mutation($c: String!) { addMemory(input: {sessionId: "s", '
            'memories: [{role: "h", content: $c}]}) { session { id } } }',
            "variables": {"c": big},
        },
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    # No Content-Length: the limit is enforced while reading.
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    streamed = await api.http.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert database.calls == []


async def test_a_body_just_under_the_limit_is_processed() -> None:
    async with running_app(make_settings(max_body_bytes=4096)) as api:
        padding = " " * (4096 - 200)
        response = await api.http.post(
            "/graphql",
            content=('{"query": "{ users { totalCount } }"' + padding + "}").encode(),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 200
        assert response.json() == {"data": {"users": {"totalCount": 0}}}


def fragment_bomb(levels: int) -> str:
    """~10 tokens a level, 2**levels fields once expanded: each fragment spreads the one below
    it twice."""
    fragments = ["fragment F0 on Query { __typename }"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)
    ]
    return f"query {{ ...F{levels} }} " + " ".join(fragments)


def fragment_chain(length: int) -> str:
    """Each fragment spreads the one below it once: nested `length` levels, one field."""
    fragments = ["fragment F0 on Query { __typename }"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} }}" for i in range(1, length + 1)
    ]
    return f"query {{ ...F{length} }} " + " ".join(fragments)


class RecordedValidation:
    """Records every document graphql-core is asked to validate."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.documents: list[DocumentNode] = []

        def recording(schema: Any, document: DocumentNode, *args: Any, **kwargs: Any) -> Any:
            self.documents.append(document)
            return validate(schema, document, *args, **kwargs)

        # strawberry.schema.schema calls graphql-core's validate by the name it imported it as.
        monkeypatch.setattr(strawberry.schema.schema, "validate", recording)


async def test_a_fragment_bomb_is_refused_before_validation_walks_it(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    validation = RecordedValidation(monkeypatch)
    started = time.perf_counter()
    response = await api.http.post(
        "/graphql", json={"query": fragment_bomb(21)}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert time.perf_counter() - started < 2
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "5,000 fields" in error["message"]
    assert validation.documents == []
    # The same document without its bomb is validated and runs.
    assert await api.data("query { ...F0 } fragment F0 on Query { __typename }") == {
        "__typename": "Query"
    }
    assert len(validation.documents) == 1


async def test_the_expanded_field_limit_counts_every_spread_and_follows_its_setting() -> None:
    async with running_app(make_settings(max_fields=5)) as api:
        # Four fields: `users`, `totalCount`, and `__typename` once per spread.
        within = "{ users { totalCount } ...T ...T } fragment T on Query { __typename }"
        assert await api.data(within) == {"users": {"totalCount": 0}, "__typename": "Query"}
        # Three fields in the text, six once `...S` is expanded twice.
        over = "{ ...S ...S } fragment S on Query { users { totalCount } __typename }"
        assert await api.code(over) == "QUERY_TOO_COMPLEX"
        # Every operation of the document counts, as validation walks them all.
        body = await api.http.post(
            "/graphql",
            json={
                "query": "query A { users { totalCount } } "
                "query B { sessions { totalCount } a: __typename b: __typename }",
                "operationName": "A",
            },
        )
        assert body.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("{ ...Nope }", "Unknown fragment 'Nope'.", id="unknown"),
        pytest.param(
            "{ ...A } fragment A on Query { ...B } fragment B on Query { __typename ...A }",
            "Cannot spread fragment 'A' within itself.",
            id="cycle",
        ),
        pytest.param(
            # Every fragment spreads every other: Strawberry's limiters would walk each of the
            # 10! paths through them (seconds); graphql-core reports the cycles.
            "{ ...C0 } "
            + " ".join(
                f"fragment C{a} on Query {{ __typename "
                + " ".join(f"...C{b}" for b in range(10) if b != a)
                + " }"
                for a in range(10)
            ),
            "Cannot spread fragment 'C0' within itself.",
            id="all-to-all-cycles",
        ),
    ],
)
async def test_unknown_and_cyclic_fragments_are_bad_user_input_before_validation(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch, query: str, message: str
) -> None:
    validation = RecordedValidation(monkeypatch)
    started = time.perf_counter()
    response = await api.http.post(
        "/graphql", json={"query": query}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert time.perf_counter() - started < 2
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert error["message"] == message
    assert validation.documents == []


async def test_fragments_nested_too_deeply_are_refused() -> None:
    async with running_app(make_settings(max_tokens=10_000)) as api:
        error = await api.error(fragment_chain(250))
        assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert "200 levels" in error["message"]
        assert await api.data(fragment_chain(150)) == {"__typename": "Query"}


DOCUMENTED = [
    pytest.param(BENCH_NESTED, id="bench-nested"),
    pytest.param(EXAMPLE_QUERY, id="graphiql-query"),
    pytest.param(EXAMPLE_MUTATION, id="graphiql-mutation"),
    *(
        pytest.param(document, id=f"frontend-{index}")
        for index, document in enumerate(documents_in(FRONTEND_DOC.read_text(encoding="utf-8")))
    ),
    *(
        pytest.param(document, id=f"readme-{index}")
        for index, document in enumerate(documents_in(README.read_text(encoding="utf-8")))
    ),
]


@pytest.mark.parametrize("document", DOCUMENTED)
def test_documented_queries_fit_the_field_limit_easily(document: str) -> None:
    limit = Settings.model_fields["max_fields"].default
    expand(parse(document), limit // 20)


def test_the_node_estimate_walks_each_fragment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spreading a fragment again scales its estimate instead of walking it again: 40 levels of
    fragments spreading the one below twice are 2**40 connections, estimated in a few steps."""
    visits = 0
    walk_field = NodeEstimate._field

    def counted(self: NodeEstimate, *args: Any) -> int:
        nonlocal visits
        visits += 1
        assert visits <= 100, "the estimate walks a fragment again for each spread"
        return walk_field(self, *args)

    monkeypatch.setattr(NodeEstimate, "_field", counted)
    document = parse(
        fragment_bomb(40).replace("{ __typename }", "{ users(first: 3) { totalCount } }")
    )
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    built = build_schema()
    estimate = NodeEstimate(
        built._schema,
        SchemaFields(built),
        VariableValues({}, {}),
        QueryLimits.of(Settings.model_construct()),
    )
    selections = expand(document, 2**62).of(operation)
    assert selections is not None
    assert estimate.of_operation(operation, selections) == 3 * 2**40


TWO_LEVELS = "users(first: $n) { edges { node { sessions(first: $n) { totalCount } } } }"


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        pytest.param(f"query($n: Int = 100) {{ {TWO_LEVELS} }}", {}, id="default"),
        pytest.param(f"query($n: Int) {{ {TWO_LEVELS} }}", {"n": 100.0}, id="float"),
        pytest.param(f"query($n: Int) {{ {TWO_LEVELS} }}", {"n": 2**31 - 1}, id="over-the-maximum"),
        pytest.param(
            "query($ids: [ID!]! = [" + ", ".join(['"x"'] * 100) + "]) { nodes(ids: $ids) "
            "{ ... on Session { memories(first: 100) { totalCount } } } }",
            {},
            id="default-ids",
        ),
    ],
)
async def test_the_node_estimate_reads_arguments_as_execution_coerces_them(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch, query: str, variables: dict[str, Any]
) -> None:
    database = ForbiddenDatabase(api, monkeypatch)
    error = await api.error(query, variables)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    # A page size over the maximum counts as the maximum, which is all the resolvers allow.
    assert error["extensions"]["nodes"] == 100 + 100 * 100
    assert database.calls == []


async def test_a_page_size_too_large_for_an_int_is_bad_user_input(api: GraphQLClient) -> None:
    """A 4,000-digit `first` fails to coerce: execution reports that, and the estimate never
    does arithmetic with it (nor fails formatting it)."""
    response = await api.http.post(
        "/graphql",
        json={"query": f"query($n: Int) {{ {TWO_LEVELS} }}", "variables": {"n": 10**4000}},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "Int cannot represent" in error["message"]
    assert "digits" not in error["message"]


async def test_memories_added_by_add_memory_multiply_what_is_nested_in_them(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = ForbiddenDatabase(api, monkeypatch)
    # Each of the 1,000 memories returned lists up to 100 memories of its session.
    error = await api.error(
        'mutation($m: [MemoryInput!]!) { addMemory(input: {sessionId: "s", memories: $m}) '
        "{ memories { session { memories(first: 100) { edges { node { content } } } } } } }",
        {"m": [{"role": "h", "content": "c"}] * 1000},
    )
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["nodes"] == 1000 + 1000 * 100
    assert database.calls == []


async def test_a_fragment_counts_the_memories_of_the_add_memory_it_is_spread_in(
    api: GraphQLClient,
) -> None:
    query = (
        "mutation($m: [MemoryInput!]!) {"
        ' one: addMemory(input: {sessionId: "s", memories: [{role: "h", content: "c"}]}) { ...P }'
        ' many: addMemory(input: {sessionId: "t", memories: $m}) { ...P } }'
        " fragment P on AddMemoryPayload { memories { session { memories(first: 100) "
        "{ totalCount } } } }"
    )
    error = await api.error(query, {"m": [{"role": "h", "content": "c"}] * 99})
    assert error["extensions"]["nodes"] == (1 + 1 * 100) + (99 + 99 * 100)
    assert (await api.data("{ sessions { totalCount } }"))["sessions"]["totalCount"] == 0


async def test_a_nested_connection_counts_at_least_one_node_per_parent(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of no memories still costs a query per session: 5,000 sessions, 5,000 queries."""
    database = ForbiddenDatabase(api, monkeypatch)
    error = await api.error(
        "{ users(first: 50) { edges { node { sessions(first: 100) { edges { node {"
        " memories(first: 0) { totalCount } } } } } } } }"
    )
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["nodes"] == 50 + 50 * 100 + 50 * 100
    assert database.calls == []


# A mutation's payload is resolved after its write: page arguments its connections would refuse
# are refused before the mutation runs, so the error never comes with a change made anyway.

SESSION_CURSOR_QUERY = "{ sessions(first: 1) { edges { cursor } } }"


@pytest.mark.parametrize(
    ("mutation", "variables", "field"),
    [
        pytest.param(
            'mutation { addMemory(input: {sessionId: "s", memories: [{role: "h", content: "x"}]})'
            " { session { memories(first: 101) { totalCount } } } }",
            {},
            "first",
            id="addMemory-first-over-max",
        ),
        pytest.param(
            'mutation { addMemory(input: {sessionId: "s", memories: [{role: "h", content: "x"}]})'
            " { memories { session { memories(last: -1) { totalCount } } } } }",
            {},
            "last",
            id="addMemory-memories-negative-last",
        ),
        pytest.param(
            'mutation { addSession(input: {sessionId: "s2", userId: "u"})'
            " { session { user { sessions(first: 1, last: 1) { totalCount } } } } }",
            {},
            "last",
            id="addSession-first-and-last",
        ),
        pytest.param(
            'mutation($n: Int) { updateUser(input: {userId: "u", metadata: {a: 2}})'
            " { user { ...S } } } fragment S on User { sessions(first: $n) { totalCount } }",
            {"n": 500},
            "first",
            id="updateUser-variable-in-fragment",
        ),
        pytest.param(
            'mutation { updateSession(input: {sessionId: "s", metadata: {a: 2}})'
            ' { session { memories(before: "not-a-cursor") { totalCount } } } }',
            {},
            "before",
            id="updateSession-garbage-cursor",
        ),
        pytest.param(
            'mutation($c: String) { deleteMemories(sessionId: "s")'
            " { session { memories(after: $c) { totalCount } } } }",
            {"c": "SESSION_CURSOR"},
            "after",
            id="deleteMemories-cursor-of-another-connection",
        ),
    ],
)
async def test_bad_page_arguments_in_a_mutation_payload_change_nothing(
    api: GraphQLClient, mutation: str, variables: dict[str, Any], field: str
) -> None:
    await api.data('mutation { addUser(input: {userId: "u", metadata: {a: 1}}) { user { id } } }')
    await api.data(
        'mutation { addSession(input: {sessionId: "s", userId: "u", metadata: {a: 1}})'
        " { session { id } } }"
    )
    await api.data(
        'mutation { addMemory(input: {sessionId: "s", memories: [{role: "h", content: "kept"}]})'
        " { session { id } } }"
    )
    if variables.get("c") == "SESSION_CURSOR":
        edges = (await api.data(SESSION_CURSOR_QUERY))["sessions"]["edges"]
        variables = {"c": edges[0]["cursor"]}
    before = {name: await raw_documents(api, name) for name in ("users", "sessions", "memories")}

    error = await api.error(mutation, variables)

    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert "path" not in error
    after = {name: await raw_documents(api, name) for name in ("users", "sessions", "memories")}
    assert after == before


async def test_a_good_page_in_a_mutation_payload_is_still_served(api: GraphQLClient) -> None:
    data = await api.data(
        'mutation { addMemory(input: {sessionId: "s", memories: [{role: "h", content: "x"}]})'
        " { session { memories(first: 100) { totalCount edges { node { content } } } } } }"
    )
    memories = data["addMemory"]["session"]["memories"]
    assert memories["totalCount"] == 1
    assert memories["edges"] == [{"node": {"content": "x"}}]


async def test_a_bad_page_in_a_query_stays_a_field_error(api: GraphQLClient) -> None:
    """Queries change nothing: their page arguments are checked by the resolver, and the error
    points at the connection's path, as before."""
    await add_session(api, "s")
    body = await api.post(
        '{ session(sessionId: "s") { sessionId memories(first: 101) { totalCount } } }'
    )
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    assert error["path"] == ["session", "memories"]


def test_every_connection_field_is_declared_for_the_limits_and_the_mutation_check() -> None:
    """A connection field without its declaration would escape the node limit and the page
    check before mutations."""
    built = build_schema(make_settings())
    schema = built._schema
    fields = SchemaFields(built)
    connection_fields = {
        (type_.name, name): field
        for type_ in schema.type_map.values()
        if isinstance(type_, GraphQLObjectType)
        for name, field in type_.fields.items()
        if get_named_type(field.type).name.endswith("Connection")
    }
    assert len(connection_fields) == 4
    for (type_name, name), field in connection_fields.items():
        paging = fields.cost(type_name, name)
        assert isinstance(paging, Paging)
        assert get_named_type(field.type).name == f"{paging.kind.capitalize()}Connection"


async def test_fields_left_out_by_skip_or_include_are_neither_counted_nor_checked(
    api: GraphQLClient,
) -> None:
    """Execution does not resolve them, so they may ask for any page."""
    nested = NESTED_100[1:-1]  # the 100 x 100 x 100 selection, without its braces
    skipped = "{ a: users { totalCount } " + nested.replace("100)", "100) @skip(if: true)", 1)
    assert await api.data(skipped + " }") == {"a": {"totalCount": 0}}
    included = "query($on: Boolean!) { a: users { totalCount } " + nested.replace(
        "100)", "100) @include(if: $on)", 1
    )
    assert await api.code(included + " }", {"on": True}) == "QUERY_TOO_COMPLEX"
    assert await api.data(included + " }", {"on": False}) == {"a": {"totalCount": 0}}

    mutation = (
        'mutation($n: Int, $history: Boolean!) { addMemory(input: {sessionId: "s",'
        ' memories: [{role: "h", content: "x"}]}) { session { sessionId'
        " memories(first: $n) @include(if: $history) { totalCount } } } }"
    )
    data = await api.data(mutation, {"n": 500, "history": False})
    assert data == {"addMemory": {"session": {"sessionId": "s"}}}
    error = await api.error(mutation, {"n": 500, "history": True})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    assert (await api.data("{ sessions { totalCount } }"))["sessions"]["totalCount"] == 1


NESTED_LEVELS = NESTED_100[1:-1]


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        pytest.param(
            'query($b: Boolean = true) { a: user(userId: "nobody") { id @include(if: $b) } '
            + NESTED_LEVELS
            + " }",
            {"b": None},
            id="null-directive-argument",
        ),
        pytest.param(
            'query($s: String = "x") { a: user(userId: $s) { id } ' + NESTED_LEVELS + " }",
            {"s": None},
            id="null-non-null-argument",
        ),
    ],
)
async def test_an_argument_that_does_not_coerce_refuses_the_request_before_it_runs(
    api: GraphQLClient, document: str, variables: dict[str, Any]
) -> None:
    """A variable with a default may still be sent as null, which a non-null argument refuses
    only when its field is reached: the node limit must not be skipped meanwhile, and the
    error is the client's (BAD_USER_INPUT), not an internal one."""
    body = await api.post(document, variables)
    assert "data" not in body or body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "path" not in error
    assert "null" in error["message"]


async def test_a_null_directive_argument_in_a_mutation_writes_nothing(api: GraphQLClient) -> None:
    error = await api.error(
        'mutation($b: Boolean = true) { addMemory(input: {sessionId: "s", memories: [{role: "h",'
        ' content: "x"}]}) { memories @include(if: $b) { id } session { sessionId } } }',
        {"b": None},
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert await raw_documents(api, "memories") == []
    assert await raw_documents(api, "sessions") == []


async def test_fragments_that_cannot_apply_to_the_object_are_not_checked(
    api: GraphQLClient,
) -> None:
    """A Session is never a User: execution skips `... on User` inside a session, and so does
    the page check."""
    data = await api.data(
        'mutation { addMemory(input: {sessionId: "s", memories: [{role: "h", content: "x"}]})'
        " { session { sessionId ... on Node { ... on User { sessions(first: -1) { totalCount }"
        " } } } } }"
    )
    assert data == {"addMemory": {"session": {"sessionId": "s"}}}


async def test_a_fragment_spread_on_two_types_is_checked_for_each(api: GraphQLClient) -> None:
    await add_user(api, "u")
    error = await api.error(
        'mutation { addSession(input: {sessionId: "s", userId: "u"}) { session { user { ...N }'
        " ...N } } } fragment N on Node { ... on User { sessions(first: 1) { totalCount } }"
        " ... on Session { memories(first: -1) { totalCount } } }"
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    assert await raw_documents(api, "sessions") == []


async def test_a_refused_page_is_named_by_its_alias(api: GraphQLClient) -> None:
    error = await api.error(
        'mutation { updateSession(input: {sessionId: "s"}) { session {'
        " recent: memories(last: -1) { totalCount } } } }"
    )
    assert error["message"].startswith("recent: last must not be negative")


REPEATED_FIELD = "query Q1 {" + " users { totalCount }" * 400 + "}"


async def test_a_field_repeated_hundreds_of_times_is_refused_before_validation(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """400 copies of one field pass every other limit (1,604 tokens, 800 fields, no alias) and
    kept graphql-core's overlapping-fields rule busy for 1-3 s: pairs of fields at one place
    are counted first, and such a document is never validated."""
    validation = RecordedValidation(monkeypatch)
    error = await api.error(REPEATED_FIELD)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "1,000 pairs" in error["message"]
    assert validation.documents == []


async def test_repeated_fields_are_counted_per_place_once_fragments_are_expanded() -> None:
    async with running_app(make_settings(max_overlapping_fields=4)) as api:
        # `users` twice (one pair) and users.totalCount three times, once through a spread
        # (three pairs): four.
        within = (
            "{ users { totalCount ...C } users { totalCount } } "
            "fragment C on UserConnection { totalCount }"
        )
        assert await api.data(within) == {"users": {"totalCount": 0}}
        # The same place selected four times through spreads: six pairs.
        over = "{ ...U ...U ...U ...U } fragment U on Query { __typename }"
        assert await api.code(over) == "QUERY_TOO_COMPLEX"
        # A fragment no operation uses is validated too, and so counted.
        unused = "{ __typename } fragment X on Query { " + "a: __typename " * 4 + "}"
        assert await api.code(unused) == "QUERY_TOO_COMPLEX"


@pytest.mark.parametrize(
    "document",
    list(worst_documents().values()),
    ids=list(worst_documents()),
)
def test_validation_work_stays_within_its_budget_for_the_worst_documents_allowed(
    document: str,
) -> None:
    """A count of work, not a time: graphql-core meters the overlap rule in units and aborts
    validation past its budget (set from the settings); every document the limits let through
    validates within it. bench/README.md gives the wall time of these documents."""
    settings = make_settings()
    schema = build_schema(settings)
    parsed = parse(document, max_tokens=settings.max_tokens)
    check_expansion(parsed, settings.max_fields, settings.max_overlapping_fields)
    assert validation_work_budget(QueryLimits.of(settings)) == 6_000
    errors = validate(schema._schema, parsed)
    assert not any("aborted" in error.message for error in errors), errors


async def test_each_schema_keeps_its_own_validation_budget_in_one_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """graphql-core's overlap rule took its budget from a module attribute that each schema
    build set, so the schema built last set the budget of every schema in the process. Here
    the first schema's budget is made small enough for a document its own limits let through
    (limits unlike any other test's, so the schema is built here)."""
    document = "{" + " __typename" * 100 + "}"
    monkeypatch.setattr(schema.guards.limits, "validation_work_budget", lambda limits: 1000)
    async with running_app(make_settings(max_overlapping_fields=999_999)) as api:
        monkeypatch.undo()
        build_schema(make_settings(max_overlapping_fields=999_998))  # another app's, built last
        assert await api.code(document) == "QUERY_TOO_COMPLEX"
    async with running_app(make_settings(max_overlapping_fields=999_998)) as api:
        assert await api.data(document) == {"__typename": "Query"}


def test_graphql_cores_token_limit_error_is_recognised_and_no_other_syntax_error_is() -> None:
    """The reach behind `is_token_limit_error`: graphql-core's message is the one sign."""
    with pytest.raises(GraphQLSyntaxError) as over:
        parse("{ " + "a " * 20 + "}", max_tokens=10)
    with pytest.raises(GraphQLSyntaxError) as malformed:
        parse("{ a ")
    assert is_token_limit_error(over.value)
    assert not is_token_limit_error(malformed.value)


def test_the_overlap_rule_keeps_its_budget_where_memql_sets_it() -> None:
    """The reach behind `budgeted_overlap_rule`: graphql-core's rule makes its per-document
    state (`rule_context`, with `remaining_complexity_budget`) in `__init__`, from the module
    attribute; a graphql-core that changes this fails here first."""
    from graphql.validation.rules import overlapping_fields_can_be_merged as rule_module

    assert "self.rule_context = RuleContext()" in inspect.getsource(
        OverlappingFieldsCanBeMergedRule.__init__
    )
    assert "remaining_complexity_budget" in rule_module.RuleContext.__slots__
    assert "self.remaining_complexity_budget = get_complexity_budget()" in inspect.getsource(
        rule_module.RuleContext.__init__
    )


async def test_a_document_over_the_validation_budget_is_query_too_complex() -> None:
    """Should a shape spend more than the pair count predicts, graphql-core stops at the
    budget, and the client is told the query is too complex."""
    async with running_app(make_settings(max_overlapping_fields=10**6)) as api:
        assert await api.code("{" + " __typename" * 1500 + "}") == "QUERY_TOO_COMPLEX"
