"""Limits against abusive queries (SPEC §9): refused with QUERY_TOO_COMPLEX before any
database call, and each one a setting."""

from __future__ import annotations

import pytest

from tests.conftest import ForbiddenDatabase, GraphQLClient, make_settings, running_app


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

    async def chunks():  # no Content-Length: the limit is enforced while reading
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
