"""Every GraphQL document in docs/frontend.md (```graphql blocks and gql`…` templates in its
JavaScript) is valid against the printed schema and the public contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import OperationDefinitionNode, OperationType, build_schema, parse, validate

from tests.contract import CONTRACT, require

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "frontend.md"
SCHEMAS = {
    "printed-schema": ROOT / "schema" / "schema.graphql",
    "contract": CONTRACT,
}

BEYOND_THE_CONTRACT = {"SearchMemories"}
"""Operations of memql's own fields (searchMemories): checked against the printed schema."""
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
GQL_TEMPLATE = re.compile(r"\bgql`(.*?)`", re.DOTALL)


def documents_in(markdown: str) -> list[str]:
    documents = []
    for language, body in FENCE.findall(markdown):
        if language == "graphql":
            documents.append(body)
        elif language in {"js", "jsx", "ts", "tsx"}:
            documents.extend(GQL_TEMPLATE.findall(body))
    return documents


DOCUMENTS = documents_in(DOC.read_text(encoding="utf-8"))


def operation_name(document: str) -> str:
    (operation,) = [
        node for node in parse(document).definitions if isinstance(node, OperationDefinitionNode)
    ]
    assert operation.name is not None
    return operation.name.value


def is_subscription(document: str) -> bool:
    return any(
        isinstance(node, OperationDefinitionNode) and node.operation == OperationType.SUBSCRIPTION
        for node in parse(document).definitions
    )


def test_frontend_doc_shows_the_sidebar_chat_view_send_and_follow_in_graphql_apollo_and_urql() -> (
    None
):
    names = [operation_name(document) for document in DOCUMENTS]
    # Plain GraphQL, Apollo Client and urql each show their own copy (Apollo's chat view twice:
    # without and with live updates).
    assert sorted(set(names)) == [
        "ChatView",
        "FollowChat",
        "SearchMemories",
        "SendMessage",
        "Sidebar",
    ]
    assert names.count("ChatView") == 4 and names.count("SendMessage") == 3
    assert names.count("FollowChat") == 3
    # The search box: plain GraphQL and Apollo Client.
    assert names.count("SearchMemories") == 2


@pytest.mark.parametrize("schema_name", sorted(SCHEMAS))
@pytest.mark.parametrize(
    "document",
    DOCUMENTS,
    ids=[f"{index}-{operation_name(document)}" for index, document in enumerate(DOCUMENTS)],
)
def test_frontend_doc_graphql_is_valid_against_the_schema(document: str, schema_name: str) -> None:
    schema = build_schema(require(SCHEMAS[schema_name]).read_text(encoding="utf-8"))
    if schema.subscription_type is None and is_subscription(document):
        pytest.skip(f"the {schema_name} has no Subscription type (yet)")
    if schema_name == "contract" and operation_name(document) in BEYOND_THE_CONTRACT:
        pytest.skip("memql's own field, which the shared contract does not name (yet)")
    assert "${" not in document, "interpolated documents cannot be checked"
    assert validate(schema, parse(document)) == [], document
