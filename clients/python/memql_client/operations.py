"""The client's core, free of I/O: one `Operation` per query and mutation of memql's contract
(a GraphQL document, its variables, and how to read the answer), and how to read a response."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from memql_client.errors import NotFoundError, UnexpectedResponseError, error_from_response
from memql_client.models import (
    NODE_TYPES,
    Edge,
    JsonObject,
    Memory,
    MemoryInput,
    Node,
    Page,
    PageInfo,
    PurgeCounts,
    SearchResult,
    Session,
    SessionFilter,
    User,
    drop_none,
)

T = TypeVar("T")

# Asking for graphql-response+json first gets GraphQL-over-HTTP status codes from servers that
# speak it (400 for a document that does not validate); older ones answer application/json.
ACCEPT = "application/graphql-response+json, application/json;q=0.9"

# The fields of the public contract only, so the client works with any server that honours it.
USER_FIELDS = """
fragment UserFields on User {
  id userId email firstName lastName metadata createdAt updatedAt
}"""
SESSION_FIELDS = """
fragment SessionFields on Session {
  id sessionId userId metadata createdAt updatedAt
}"""
MEMORY_FIELDS = """
fragment MemoryFields on Memory {
  id uuid sessionId role roleType content metadata createdAt updatedAt
}"""
# User.userId is String! and Session.userId is String: one selection may not ask for both under
# one name, so `node` and `nodes` read a session's userId under an alias.
NODE_SESSION_FIELDS = """
fragment NodeSessionFields on Session {
  id sessionId sessionUserId: userId metadata createdAt updatedAt
}"""
NODE_SELECTION = "{ __typename ...UserFields ...NodeSessionFields ...MemoryFields }"
PAGE_INFO_FIELDS = """
fragment PageInfoFields on PageInfo {
  hasNextPage hasPreviousPage startCursor endCursor
}"""
PAGE_ARGUMENTS = "first: $first, after: $after, last: $last, before: $before"
PAGE_VARIABLES = "$first: Int, $after: String, $last: Int, $before: String, $withTotal: Boolean!"


def _connection(node_fragment: str) -> str:
    """The selection of one page of a connection; totalCount costs a count, so only on request."""
    return (
        f"{{ edges {{ cursor node {{ ...{node_fragment} }} }} pageInfo {{ ...PageInfoFields }} "
        "totalCount @include(if: $withTotal) }"
    )


@dataclass(frozen=True)
class Operation(Generic[T]):
    """One GraphQL request and how to turn its `data` into the method's result."""

    document: str
    variables: JsonObject
    parse: Callable[[JsonObject], T]

    def body(self) -> JsonObject:
        return {"query": self.document, "variables": self.variables}


def headers(token: str | None) -> dict[str, str]:
    result = {"Accept": ACCEPT}
    if token:
        result["Authorization"] = f"Bearer {token}"
    return result


def read_response(response: httpx.Response) -> JsonObject:
    """The `data` of a successful response; the coded MemqlError of a failed one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        raise error_from_response(body["errors"], response.status_code)
    data = body.get("data") if isinstance(body, dict) else None
    if response.status_code != 200 or not isinstance(data, dict):
        raise UnexpectedResponseError(
            f"{response.request.url} answered HTTP {response.status_code} "
            f"({response.headers.get('content-type', 'no content type')}) without a GraphQL "
            "result; is it memql's /graphql endpoint?",
            status_code=response.status_code,
        )
    return data


def _document(body: str, *fragments: str) -> str:
    return body.strip() + "".join(fragments)


def _page_variables(
    first: int | None, after: str | None, last: int | None, before: str | None, total_count: bool
) -> JsonObject:
    return {
        "first": first,
        "after": after,
        "last": last,
        "before": before,
        "withTotal": total_count,
    }


@dataclass(frozen=True)
class Walk(Generic[T]):
    """How to visit every node of a connection once: which page follows which.

    `page(cursor)` is the operation for the page after (or, walking backward, before) `cursor`,
    starting from `None`.
    """

    page: Callable[[str | None], Operation[Page[T]]]
    backward: bool = False

    def next_cursor(self, page: Page[T]) -> str | None:
        info = page.page_info
        if self.backward:
            return info.start_cursor if info.has_previous_page else None
        return info.end_cursor if info.has_next_page else None

    def nodes(self, page: Page[T]) -> list[T]:
        return page.nodes[::-1] if self.backward else page.nodes


# ------------------------------------------------------------------ queries


def node(id: str) -> Operation[Node | None]:
    document = _document(
        f"query Node($id: ID!) {{ node(id: $id) {NODE_SELECTION} }}",
        USER_FIELDS,
        NODE_SESSION_FIELDS,
        MEMORY_FIELDS,
    )
    return Operation(document, {"id": id}, lambda data: _node(data["node"]))


def nodes(ids: Sequence[str]) -> Operation[list[Node | None]]:
    document = _document(
        f"query Nodes($ids: [ID!]!) {{ nodes(ids: $ids) {NODE_SELECTION} }}",
        USER_FIELDS,
        NODE_SESSION_FIELDS,
        MEMORY_FIELDS,
    )
    return Operation(
        document, {"ids": list(ids)}, lambda data: [_node(item) for item in data["nodes"]]
    )


def _node(data: JsonObject | None) -> Node | None:
    if data is None:
        return None
    if data["__typename"] == "Session":
        data = {**data, "userId": data["sessionUserId"]}
    parse = NODE_TYPES.get(data["__typename"])
    return parse(data) if parse else None


def user(user_id: str) -> Operation[User | None]:
    document = _document(
        "query User($userId: String!) { user(userId: $userId) { ...UserFields } }", USER_FIELDS
    )
    return Operation(
        document, {"userId": user_id}, lambda data: _optional(User.from_graphql, data["user"])
    )


def users(
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    total_count: bool = False,
) -> Operation[Page[User]]:
    document = _document(
        f"query Users({PAGE_VARIABLES}) {{ users({PAGE_ARGUMENTS}) {_connection('UserFields')} }}",
        USER_FIELDS,
        PAGE_INFO_FIELDS,
    )
    return Operation(
        document,
        _page_variables(first, after, last, before, total_count),
        lambda data: Page.from_graphql(data["users"], User.from_graphql),
    )


def session(session_id: str) -> Operation[Session | None]:
    document = _document(
        "query Session($sessionId: String!) "
        "{ session(sessionId: $sessionId) { ...SessionFields } }",
        SESSION_FIELDS,
    )
    return Operation(
        document,
        {"sessionId": session_id},
        lambda data: _optional(Session.from_graphql, data["session"]),
    )


def sessions(
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    user_id: str | None = None,
    total_count: bool = False,
    filter: SessionFilter | None = None,
) -> Operation[Page[Session]]:
    """A page of sessions. Without `filter` the document names only what the public contract
    has, so it works with any server that honours it; `filter` needs memql's `SessionFilter`."""
    variables = {**_page_variables(first, after, last, before, total_count), "userId": user_id}
    filtering = ""
    if filter is not None:
        filtering = ", filter: $filter"
        variables["filter"] = filter.to_graphql()
    document = _document(
        f"query Sessions({PAGE_VARIABLES}, $userId: String"
        f"{', $filter: SessionFilter' if filtering else ''}) "
        f"{{ sessions({PAGE_ARGUMENTS}, userId: $userId{filtering}) "
        f"{_connection('SessionFields')} }}",
        SESSION_FIELDS,
        PAGE_INFO_FIELDS,
    )
    return Operation(
        document,
        variables,
        lambda data: Page.from_graphql(data["sessions"], Session.from_graphql),
    )


def memories(
    session_id: str,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    total_count: bool = False,
) -> Operation[Page[Memory]]:
    """A page of a session's memories; NotFoundError when no live session has this id."""
    document = _document(
        f"query Memories($sessionId: String!, {PAGE_VARIABLES}) "
        f"{{ session(sessionId: $sessionId) "
        f"{{ memories({PAGE_ARGUMENTS}) {_connection('MemoryFields')} }} }}",
        MEMORY_FIELDS,
        PAGE_INFO_FIELDS,
    )

    def parse(data: JsonObject) -> Page[Memory]:
        if data["session"] is None:
            raise NotFoundError(f"no session with sessionId {session_id!r}", field="sessionId")
        return Page.from_graphql(data["session"]["memories"], Memory.from_graphql)

    variables = {
        "sessionId": session_id,
        **_page_variables(first, after, last, before, total_count),
    }
    return Operation(document, variables, parse)


def search_memories(
    text: str,
    session_id: str | None = None,
    user_id: str | None = None,
    first: int | None = None,
    after: str | None = None,
    total_count: bool = False,
) -> Operation[Page[SearchResult]]:
    """A page of the memories matching the words of `text`, best first (memql's own field,
    beyond the public contract)."""
    document = _document(
        "query SearchMemories($text: String!, $sessionId: String, $userId: String, "
        "$first: Int, $after: String, $withTotal: Boolean!) "
        "{ searchMemories(text: $text, sessionId: $sessionId, userId: $userId, first: $first, "
        "after: $after) { edges { cursor score node { ...MemoryFields } } "
        "pageInfo { ...PageInfoFields } totalCount @include(if: $withTotal) } }",
        MEMORY_FIELDS,
        PAGE_INFO_FIELDS,
    )

    def parse(data: JsonObject) -> Page[SearchResult]:
        found = data["searchMemories"]
        return Page(
            edges=[
                Edge(
                    edge["cursor"],
                    SearchResult(Memory.from_graphql(edge["node"]), float(edge["score"])),
                )
                for edge in found["edges"]
            ],
            page_info=PageInfo.from_graphql(found["pageInfo"]),
            total_count=found.get("totalCount"),
        )

    variables = {
        "text": text,
        "sessionId": session_id,
        "userId": user_id,
        "first": first,
        "after": after,
        "withTotal": total_count,
    }
    return Operation(document, variables, parse)


def _optional(parse: Callable[[JsonObject], T], data: JsonObject | None) -> T | None:
    return parse(data) if data is not None else None


def _check_page_size(page_size: int) -> None:
    # A page of 0 would never move past its cursor.
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, not {page_size}")


def user_walk(page_size: int) -> Walk[User]:
    _check_page_size(page_size)
    return Walk(lambda after: users(first=page_size, after=after))


def session_walk(
    page_size: int, user_id: str | None, filter: SessionFilter | None = None
) -> Walk[Session]:
    _check_page_size(page_size)
    return Walk(
        lambda after: sessions(first=page_size, after=after, user_id=user_id, filter=filter)
    )


def search_walk(
    text: str, session_id: str | None, user_id: str | None, page_size: int
) -> Walk[SearchResult]:
    _check_page_size(page_size)
    return Walk(
        lambda after: search_memories(
            text, session_id=session_id, user_id=user_id, first=page_size, after=after
        )
    )


def memory_edge_walk(session_id: str) -> Walk[Edge[Memory]]:
    """Every memory of a session with its cursor, oldest first."""

    def page(after: str | None) -> Operation[Page[Edge[Memory]]]:
        operation = memories(session_id, first=100, after=after)

        def parse(data: JsonObject) -> Page[Edge[Memory]]:
            parsed = operation.parse(data)
            return Page([Edge(edge.cursor, edge) for edge in parsed.edges], parsed.page_info)

        return Operation(operation.document, operation.variables, parse)

    return Walk(page)


def memory_walk(session_id: str, page_size: int, newest_first: bool) -> Walk[Memory]:
    _check_page_size(page_size)
    if newest_first:
        return Walk(lambda before: memories(session_id, last=page_size, before=before), True)
    return Walk(lambda after: memories(session_id, first=page_size, after=after))


# ------------------------------------------------------------------ mutations


def _input_mutation(
    field: str, selection: str, fragment: str, fields: JsonObject, parse: Callable[[JsonObject], T]
) -> Operation[T]:
    """`field(input: $input)`, whose input type memql names after it: addUser → AddUserInput."""
    name = field[0].upper() + field[1:]
    document = _document(
        f"mutation {name}($input: {name}Input!) {{ {field}(input: $input) {selection} }}", fragment
    )
    return Operation(document, {"input": fields}, lambda data: parse(data[field]))


def _identifier_mutation(
    field: str, argument: str, value: str, selection: str, parse: Callable[[JsonObject], T]
) -> Operation[T]:
    """`field(argument: $argument)` for a mutation that takes one String! identifier."""
    name = field[0].upper() + field[1:]
    document = (
        f"mutation {name}(${argument}: String!) {{ {field}({argument}: ${argument}) {selection} }}"
    )
    return Operation(document, {argument: value}, lambda data: parse(data[field]))


def _user_input(
    user_id: str,
    email: str | None,
    first_name: str | None,
    last_name: str | None,
    metadata: Mapping[str, Any] | None,
) -> JsonObject:
    return drop_none(
        userId=user_id,
        email=email,
        firstName=first_name,
        lastName=last_name,
        metadata=dict(metadata) if metadata is not None else None,
    )


_USER_PAYLOAD = "{ user { ...UserFields } }"


def _user_of(payload: JsonObject) -> User:
    return User.from_graphql(payload["user"])


def _deleted_id(payload: JsonObject) -> str:
    return str(payload["deletedId"])


def add_user(
    user_id: str,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Operation[User]:
    fields = _user_input(user_id, email, first_name, last_name, metadata)
    return _input_mutation("addUser", _USER_PAYLOAD, USER_FIELDS, fields, _user_of)


def update_user(
    user_id: str,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Operation[User]:
    fields = _user_input(user_id, email, first_name, last_name, metadata)
    return _input_mutation("updateUser", _USER_PAYLOAD, USER_FIELDS, fields, _user_of)


def delete_user(user_id: str) -> Operation[str]:
    return _identifier_mutation("deleteUser", "userId", user_id, "{ deletedId }", _deleted_id)


def _session_input(
    session_id: str, user_id: str | None, metadata: Mapping[str, Any] | None
) -> JsonObject:
    return drop_none(
        sessionId=session_id,
        userId=user_id,
        metadata=dict(metadata) if metadata is not None else None,
    )


def _session_of(payload: JsonObject) -> Session:
    return Session.from_graphql(payload["session"])


_SESSION_PAYLOAD = "{ session { ...SessionFields } }"


def add_session(
    session_id: str, user_id: str | None = None, metadata: Mapping[str, Any] | None = None
) -> Operation[Session]:
    fields = _session_input(session_id, user_id, metadata)
    return _input_mutation("addSession", _SESSION_PAYLOAD, SESSION_FIELDS, fields, _session_of)


def update_session(
    session_id: str, user_id: str | None = None, metadata: Mapping[str, Any] | None = None
) -> Operation[Session]:
    fields = _session_input(session_id, user_id, metadata)
    return _input_mutation("updateSession", _SESSION_PAYLOAD, SESSION_FIELDS, fields, _session_of)


def delete_session(session_id: str) -> Operation[str]:
    return _identifier_mutation(
        "deleteSession", "sessionId", session_id, "{ deletedId }", _deleted_id
    )


def add_memory(session_id: str, memories: Sequence[MemoryInput]) -> Operation[list[Memory]]:
    return _input_mutation(
        "addMemory",
        "{ memories { ...MemoryFields } }",
        MEMORY_FIELDS,
        {"sessionId": session_id, "memories": [memory.to_graphql() for memory in memories]},
        lambda payload: [Memory.from_graphql(item) for item in payload["memories"]],
    )


def update_memory(id: str, metadata: Mapping[str, Any]) -> Operation[Memory]:
    return _input_mutation(
        "updateMemory",
        "{ memory { ...MemoryFields } }",
        MEMORY_FIELDS,
        {"id": id, "metadata": dict(metadata)},
        lambda payload: Memory.from_graphql(payload["memory"]),
    )


def delete_memories(session_id: str) -> Operation[int]:
    return _identifier_mutation(
        "deleteMemories",
        "sessionId",
        session_id,
        "{ deletedCount }",
        lambda payload: int(payload["deletedCount"]),
    )


def raw(document: str, variables: Mapping[str, Any] | None = None) -> Operation[JsonObject]:
    """Any document, for what the typed methods do not cover (say, one nested query)."""
    return Operation(document, dict(variables or {}), lambda data: data)


def purge_deleted() -> Operation[PurgeCounts]:
    document = "mutation PurgeDeleted { purgeDeleted { users sessions memories } }"
    return Operation(document, {}, lambda data: PurgeCounts(**data["purgeDeleted"]))
