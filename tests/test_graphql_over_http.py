"""GraphQL over HTTP: media types, status codes and request errors, and the graphql-http
server audits run against a live server."""

from __future__ import annotations

import json
import logging
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

import schema.guards.limits
from app.web.http import create_app
from app.web.live_server import ServerThread
from schema import build_schema
from schema.context import Context
from tests.node_script import node_script
from tests.support.client import GraphQLClient
from tests.support.stores import make_settings

ROOT = Path(__file__).resolve().parent.parent
GRAPHQL_RESPONSE = "application/graphql-response+json"
AUDIT_PACKAGES = ["graphql-http@1.23.1", "graphql@16.9.0"]


async def post(
    api: GraphQLClient, body: object, accept: str | None
) -> tuple[int, str, dict[str, Any]]:
    headers = {"accept": accept} if accept else {}
    response = await api.http.post("/graphql", json=body, headers=headers)
    return response.status_code, response.headers["content-type"], response.json()


async def test_graphql_response_json_is_used_when_accepted(api: GraphQLClient) -> None:
    status, media, body = await post(api, {"query": "{ __typename }"}, GRAPHQL_RESPONSE)
    assert (status, body) == (200, {"data": {"__typename": "Query"}})
    assert media.startswith(GRAPHQL_RESPONSE)


@pytest.mark.parametrize("accept", ["application/json", "*/*", None, "text/plain, */*;q=0.8"])
async def test_application_json_otherwise(api: GraphQLClient, accept: str | None) -> None:
    status, media, _ = await post(api, {"query": "{ __typename }"}, accept)
    assert status == 200
    assert media.startswith("application/json")


async def test_the_preferred_media_type_wins(api: GraphQLClient) -> None:
    accept = f"{GRAPHQL_RESPONSE};q=0.5, application/json;q=0.9"
    _, media, _ = await post(api, {"query": "{ __typename }"}, accept)
    assert media.startswith("application/json")


BAD_REQUESTS = [
    pytest.param({"query": "{"}, id="parse"),
    pytest.param({"query": "{ nope }"}, id="validation"),
    pytest.param(
        {
            "query": "query($n: Int) { users(first: $n) { totalCount } }",
            "variables": {"n": "x"},
        },
        id="variables",
    ),
]


@pytest.mark.parametrize(
    "body",
    [
        *BAD_REQUESTS,
        pytest.param(
            {
                "query": "{ users(first: 100) { edges { node { sessions(first: 101) "
                "{ totalCount } } } } }"
            },
            id="too-complex",
        ),
    ],
)
async def test_request_errors_are_400_without_data_for_graphql_response_json(
    api: GraphQLClient, body: dict[str, Any]
) -> None:
    status, media, answer = await post(api, body, GRAPHQL_RESPONSE)
    assert status == 400
    assert media.startswith(GRAPHQL_RESPONSE)
    assert "data" not in answer and answer["errors"]
    legacy_status, _, legacy = await post(api, body, "application/json")
    assert legacy_status == 200
    assert "data" not in legacy and legacy["errors"] == answer["errors"]


async def test_field_errors_keep_200_and_data(api: GraphQLClient) -> None:
    status, _, body = await post(
        api, {"query": '{ session(sessionId: "") { id } users { totalCount } }'}, GRAPHQL_RESPONSE
    )
    assert status == 200
    assert body["data"] == {"session": None, "users": {"totalCount": 0}}
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_mutation_over_get_is_405(api: GraphQLClient) -> None:
    response = await api.http.get(
        "/graphql",
        params={"query": 'mutation { addUser(input: {userId: "x"}) { user { id } } }'},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert response.json()["errors"][0]["message"]
    assert (await api.data("{ users { totalCount } }"))["users"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"query": "{ __typename }"}', "text/plain", 415),
        (b'{"query": "{ __typename }"}', None, 415),
        (b'{"query": "{ __typename }"}', "application/jsonx", 415),
        (b'{"query": "{ __typename }"}', "application/json-patch+json", 415),
        (b'{"query": "{ __typename }"}', "application/json-seq", 415),
        (b'{"query": "{ __typename }"}', "application/x-www-form-urlencoded", 415),
        (b"{", "application/json", 400),
        (b"{}", "application/json", 400),
        (b'{"query": {"a": 1}}', "application/json", 400),
        (b'{"query": "{ users { totalCount } }", "variables": [1]}', "application/json", 400),
        (b"null", "application/json", 400),
        (b"\x9a\xff", "application/json", 400),
        (b"[" * 200_000, "application/json", 400),
        (b"5", "application/json", 400),
        (b'"query"', "application/json", 400),
    ],
)
async def test_malformed_requests_are_4xx_json(
    api: GraphQLClient, content: bytes, content_type: str | None, status: int
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await api.http.post("/graphql", content=content, headers=headers)
    assert response.status_code == status
    assert response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/graphql-response+json",
        "application/graphql-response+json;charset=utf-8",
    ],
)
async def test_both_graphql_media_types_are_read_as_json_bodies(
    api: GraphQLClient, content_type: str
) -> None:
    response = await api.http.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"content-type": content_type},
    )
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_the_json_media_type_of_a_body_is_read_whatever_its_case(api: GraphQLClient) -> None:
    response = await api.http.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"content-type": "Application/JSON; charset=UTF-8"},
    )
    assert response.json() == {"data": {"__typename": "Query"}}


def test_graphql_http_server_audits_pass() -> None:
    """graphql-http's audit suite (npm) against a live memql: every MUST passes, and any SHOULD
    that does not is listed in the README with the reason."""
    node, script = node_script(
        "graphql_http_audit.mjs", AUDIT_PACKAGES, "run graphql-http's audits"
    )
    with ServerThread(create_app(make_settings())) as server:
        run = subprocess.run(
            [node, str(script), f"{server.url}/graphql"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    results = json.loads(run.stdout)
    assert len(results) >= 50
    failed = {r["id"]: r for r in results if r["status"] != "ok"}
    must = [r for r in failed.values() if r["name"].startswith("MUST")]
    assert must == []
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"graphql-http audit `([0-9A-F]{4})`", readme))
    should = {i for i, r in failed.items() if r["name"].startswith("SHOULD")}
    assert should == documented, failed


GIANT_INTEGER = "1" * 5000  # over the 4,300 digits Python reads as an int by default


@pytest.mark.parametrize(
    "content",
    [
        b'{"query": "{ __typename }", "variables": {"n": ' + GIANT_INTEGER.encode() + b"}}",
        b'{"query": "{ __typename }", "extensions": [' + GIANT_INTEGER.encode() + b"]}",
    ],
    ids=["variables", "extensions"],
)
async def test_a_json_integer_with_too_many_digits_is_400_json(
    api: GraphQLClient, content: bytes
) -> None:
    response = await api.http.post(
        "/graphql", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error == {
        "message": "the JSON has a number with too many digits",
        "extensions": {"code": "BAD_USER_INPUT"},
    }


async def test_a_get_variable_with_too_many_digits_is_400_json(api: GraphQLClient) -> None:
    response = await api.http.get(
        "/graphql",
        params={"query": "{ __typename }", "variables": '{"n": ' + GIANT_INTEGER + "}"},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}


async def test_an_operation_name_with_an_unpaired_surrogate_gets_a_400_json_error(
    api: GraphQLClient,
) -> None:
    response = await api.http.post(
        "/graphql",
        content=b'{"query": "{ __typename }", "operationName": "\\ud800"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.content.isascii()
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "\ud800" in error["message"]


@pytest.mark.parametrize(
    "operation_name", [5, ["Q"], {"name": "Q"}, True], ids=["number", "list", "object", "boolean"]
)
async def test_an_operation_name_that_is_no_string_is_400(
    api: GraphQLClient, operation_name: object
) -> None:
    response = await api.http.post(
        "/graphql", json={"query": "query Q { __typename }", "operationName": operation_name}
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "`operationName` must be a string" in error["message"]


TWO_OPERATIONS = (
    "query Count { sessions { totalCount } } "
    'mutation Add { addSession(input: {sessionId: "s"}) { session { sessionId } } }'
)


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(TWO_OPERATIONS, id="query-first"),
        pytest.param(
            'mutation Add { addSession(input: {sessionId: "s"}) { session { sessionId } } } '
            "query Count { sessions { totalCount } }",
            id="mutation-first",
        ),
    ],
)
async def test_several_operations_without_operation_name_are_refused_and_run_nothing(
    api: GraphQLClient, document: str
) -> None:
    """The GraphQL spec's GetOperation: which to run is the client's to say, never a guess."""
    response = await api.http.post(
        "/graphql", json={"query": document}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "operationName"}
    assert "give operationName" in error["message"]
    assert (await api.data("{ sessions { totalCount } }"))["sessions"]["totalCount"] == 0


async def test_operation_name_chooses_among_several_operations(api: GraphQLClient) -> None:
    added = await api.http.post("/graphql", json={"query": TWO_OPERATIONS, "operationName": "Add"})
    assert added.json() == {"data": {"addSession": {"session": {"sessionId": "s"}}}}
    counted = await api.http.post(
        "/graphql", json={"query": TWO_OPERATIONS, "operationName": "Count"}
    )
    assert counted.json() == {"data": {"sessions": {"totalCount": 1}}}
    single = await api.http.post("/graphql", json={"query": "query Only { __typename }"})
    assert single.json() == {"data": {"__typename": "Query"}}


async def test_every_entry_point_passes_the_clients_operation_name_in_the_context(
    api: GraphQLClient,
) -> None:
    """The schema, not the HTTP endpoint, refuses to guess: a caller that does not say in the
    context which operation the client asked for gets several operations refused."""
    schema = build_schema()

    def context(requested: str | None) -> Context:
        return Context(api.store, api.app.state.settings, requested_operation_name=requested)

    chosen = await schema.execute(
        TWO_OPERATIONS, context_value=context("Count"), operation_name="Count"
    )
    assert (chosen.data, chosen.errors) == ({"sessions": {"totalCount": 0}}, None)
    for refused in [
        await schema.execute(TWO_OPERATIONS, context_value=context(None)),
        await schema.execute(TWO_OPERATIONS, context_value=None, operation_name="Count"),
    ]:
        assert refused.data is None
        [error] = refused.errors or []
        assert error.extensions == {"code": "BAD_USER_INPUT", "field": "operationName"}


async def test_an_extension_that_crashes_is_an_internal_error_logged_with_the_request_id(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def crash(*args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(schema.guards.limits, "expand", crash)
    response = await api.http.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"accept": GRAPHQL_RESPONSE, "x-request-id": "req-crash"},
    )
    assert response.status_code == 500
    body = response.json()
    assert "data" not in body
    assert body["errors"] == [
        {
            "message": "Internal server error (request id req-crash).",
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-crash"},
        }
    ]
    [logged] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "req-crash" in logged.getMessage()
    assert isinstance(logged.exc_info and logged.exc_info[1], RuntimeError)


@pytest.mark.parametrize(
    "body",
    [
        *BAD_REQUESTS,
        pytest.param(
            {
                "query": "query($i: AddUserInput!) { __typename }",
                "variables": {"i": {"userId": 5, "firstName": [1]}},
            },
            id="input-object",
        ),
    ],
)
async def test_request_errors_stay_bad_user_input_and_are_not_logged_as_errors(
    api: GraphQLClient, caplog: pytest.LogCaptureFixture, body: dict[str, object]
) -> None:
    response = await api.http.post("/graphql", json=body, headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 400
    codes = {error["extensions"]["code"] for error in response.json()["errors"]}
    assert codes == {"BAD_USER_INPUT"}
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
