"""Per-user tokens: admins see everything; a user sees and changes only their own data,
by every route, and learns nothing about anyone else's."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import jwt
import pytest

from app.auth import Viewer
from app.call_counting import counting_calls
from app.clock import utc_now
from app.db import Database
from app.errors import Unauthenticated
from app.store.deleted_users import DeletedUsers
from tests.support.client import SECRET, token_for
from tests.support.data import World, snapshot
from tests.support.stores import make_settings


async def test_a_request_without_a_token_is_401(world: World) -> None:
    response = await world.admin.http.post("/graphql", json={"query": "{ users { totalCount } }"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(token_for("alice", ttl=timedelta(seconds=-5)), id="expired"),
        pytest.param(
            jwt.encode(
                {"role": "admin", "exp": 4102444800},
                "another-secret-32-bytes-long!!!!",
                algorithm="HS256",
            ),
            id="other-secret",
        ),
        pytest.param(jwt.encode({"role": "admin"}, SECRET, algorithm="HS256"), id="no-exp"),
        pytest.param(
            jwt.encode({"role": "root", "exp": 4102444800}, SECRET, algorithm="HS256"),
            id="unknown-role",
        ),
        pytest.param(
            jwt.encode({"role": "user", "exp": 4102444800}, SECRET, algorithm="HS256"),
            id="user-without-sub",
        ),
        pytest.param(
            jwt.encode({"role": "admin", "exp": 4102444800}, SECRET * 2, algorithm="HS512"),
            id="other-algorithm",
        ),
        pytest.param("not.a.jwt", id="garbage"),
        # PyJWT reads a numeric string (or a float) as a NumericDate; RFC 7519 says a number.
        pytest.param(
            jwt.encode({"role": "admin", "exp": "4102444800"}, SECRET, algorithm="HS256"),
            id="exp-as-text",
        ),
        pytest.param(
            jwt.encode({"role": "admin", "exp": True}, SECRET, algorithm="HS256"),
            id="exp-as-boolean",
        ),
    ],
)
async def test_bad_tokens_are_401_unauthenticated(world: World, token: str) -> None:
    response = await world.admin.http.post(
        "/graphql",
        json={"query": "{ users { totalCount } }"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in body
    zep = await world.admin.http.get(
        "/zep/api/v1/sessions", headers={"authorization": f"Bearer {token}"}
    )
    assert zep.status_code == 401 and zep.headers["content-type"].startswith("text/plain")


async def test_a_non_bearer_authorization_header_is_401(world: World) -> None:
    response = await world.admin.http.post(
        "/graphql",
        json={"query": "{ users { totalCount } }"},
        headers={"authorization": f"Basic {token_for()}"},
    )
    assert response.status_code == 401


async def test_an_admin_sees_everything(world: World) -> None:
    data = await world.admin.data(
        "{ users { totalCount } sessions { totalCount } "
        'b1: session(sessionId: "b1") { sessionId } }'
    )
    assert data == {
        "users": {"totalCount": 2},
        "sessions": {"totalCount": 4},
        "b1": {"sessionId": "b1"},
    }


async def test_a_user_lists_only_itself_and_its_own_sessions(world: World) -> None:
    data = await world.alice.data(
        "{ users { totalCount edges { node { userId sessions { edges { node { sessionId } } } } } }"
        "  sessions { totalCount edges { node { sessionId } } }"
        '  mine: sessions(userId: "alice") { totalCount } }'
    )
    assert data["users"]["totalCount"] == 1
    (user,) = data["users"]["edges"]
    assert user["node"]["userId"] == "alice"
    assert [e["node"]["sessionId"] for e in user["node"]["sessions"]["edges"]] == ["a1", "a2"]
    assert [e["node"]["sessionId"] for e in data["sessions"]["edges"]] == ["a1", "a2"]
    assert data["mine"]["totalCount"] == 2


async def test_a_user_reads_its_own_session_with_memories(world: World) -> None:
    data = await world.alice.data(
        '{ session(sessionId: "a1") { user { userId } memories { edges { node { content '
        "session { sessionId } } } } } }"
    )
    assert data["session"]["user"] == {"userId": "alice"}
    assert data["session"]["memories"]["edges"][0]["node"]["content"] == "a1"


@pytest.mark.parametrize(
    "query",
    [
        '{ session(sessionId: "b1") { sessionId } }',
        '{ session(sessionId: "free") { sessionId } }',
        '{ sessions(userId: "bob") { totalCount } }',
        '{ user(userId: "bob") { userId } }',
    ],
)
async def test_reading_someone_elses_data_is_forbidden(world: World, query: str) -> None:
    assert await world.alice.code(query) == "FORBIDDEN"


@pytest.mark.parametrize("key", ["bob", "b1", "b1:memory", "free", "free:memory"])
async def test_node_of_someone_elses_object_is_forbidden(world: World, key: str) -> None:
    error = await world.alice.error(
        "query($id: ID!) { node(id: $id) { id } }", {"id": world.ids[key]}
    )
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_node_of_own_objects_works(world: World) -> None:
    for key in ("alice", "a1", "a1:memory"):
        data = await world.alice.data(
            "query($id: ID!) { node(id: $id) { id } }", {"id": world.ids[key]}
        )
        assert data["node"]["id"] == world.ids[key]


async def test_nodes_nulls_only_the_forbidden_entries(world: World) -> None:
    body = await world.alice.post(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": [world.ids["a1"], world.ids["b1"], world.ids["a1:memory"]]},
    )
    assert body["data"]["nodes"] == [{"id": world.ids["a1"]}, None, {"id": world.ids["a1:memory"]}]
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["path"] == ["nodes", 1]


async def test_forbidden_tells_nothing_about_whether_a_session_exists(world: World) -> None:
    existing = await world.alice.error('{ session(sessionId: "b1") { sessionId } }')
    missing = await world.alice.error('{ session(sessionId: "b2") { sessionId } }')
    assert (
        existing["extensions"]
        == missing["extensions"]
        == {"code": "FORBIDDEN", "field": "sessionId"}
    )
    assert existing["message"].replace("b1", "b2") == missing["message"]
    update_existing = await world.alice.error(
        'mutation { updateSession(input: {sessionId: "b1", metadata: {}}) { session { id } } }'
    )
    update_missing = await world.alice.error(
        'mutation { updateSession(input: {sessionId: "b2", metadata: {}}) { session { id } } }'
    )
    assert update_existing["extensions"] == update_missing["extensions"]
    assert update_existing["extensions"]["code"] == "FORBIDDEN"


async def test_creating_a_session_id_another_user_holds_answers_as_for_ones_own(
    world: World,
) -> None:
    """Session ids are one namespace (as in Zep): creating one that exists is ALREADY_EXISTS,
    whoever holds it, so the answer does not tell that another user holds it."""
    others = await world.alice.error(
        'mutation { addSession(input: {sessionId: "b1"}) { session { id } } }'
    )
    own = await world.alice.error(
        'mutation { addSession(input: {sessionId: "a1"}) { session { id } } }'
    )
    assert (
        others["extensions"]
        == own["extensions"]
        == {
            "code": "ALREADY_EXISTS",
            "field": "input.sessionId",
        }
    )
    assert others["message"].replace("b1", "a1") == own["message"]
    # A session another user deleted is still theirs until it is purged: it is not revived.
    await world.admin.data('mutation { deleteSession(sessionId: "b1") { deletedId } }')
    before = await snapshot(world.admin)
    again = await world.alice.error(
        'mutation { addSession(input: {sessionId: "b1"}) { session { id } } }'
    )
    assert again["extensions"]["code"] == "ALREADY_EXISTS"
    assert await snapshot(world.admin) == before


MUTATIONS_ON_OTHERS = [
    'mutation { updateSession(input: {sessionId: "b1", metadata: {x: 1}}) { session { id } } }',
    'mutation { updateSession(input: {sessionId: "a1", userId: "bob"}) { session { id } } }',
    'mutation { deleteSession(sessionId: "b1") { deletedId } }',
    'mutation { deleteSession(sessionId: "free") { deletedId } }',
    'mutation { deleteMemories(sessionId: "b1") { deletedCount } }',
    'mutation { addSession(input: {sessionId: "new", userId: "bob"}) { session { id } } }',
    'mutation { addMemory(input: {sessionId: "b1", memories: [{role: "x", content: "y"}]})'
    " { memories { id } } }",
    'mutation { addMemory(input: {sessionId: "free", memories: [{role: "x", content: "y"}]})'
    " { memories { id } } }",
    'mutation { updateUser(input: {userId: "bob", email: "x@y"}) { user { id } } }',
    'mutation { deleteUser(userId: "bob") { deletedId } }',
    'mutation { addUser(input: {userId: "carol"}) { user { id } } }',
    "mutation { purgeDeleted { users sessions memories } }",
]


@pytest.mark.parametrize("mutation", MUTATIONS_ON_OTHERS)
async def test_changing_someone_elses_data_is_forbidden_and_changes_nothing(
    world: World, mutation: str
) -> None:
    before = await snapshot(world.admin)
    assert await world.alice.code(mutation) == "FORBIDDEN"
    assert await snapshot(world.admin) == before


async def test_update_memory_of_someone_else_is_forbidden_by_uuid_and_global_id(
    world: World,
) -> None:
    before = await snapshot(world.admin)
    for key in ("b1:memory", "b1:uuid", "free:uuid"):
        error = await world.alice.error(
            "mutation($id: ID!) { updateMemory(input: {id: $id, metadata: {x: 1}}) "
            "{ memory { id } } }",
            {"id": world.ids[key]},
        )
        assert error["extensions"]["code"] == "FORBIDDEN"
    assert await snapshot(world.admin) == before


async def test_a_user_changes_its_own_data(world: World) -> None:
    alice = world.alice
    await alice.data(
        'mutation { updateSession(input: {sessionId: "a1", metadata: {x: 1}}) { session { id } } }'
    )
    await alice.data(
        "mutation($id: ID!) { updateMemory(input: {id: $id, metadata: {y: 2}}) { memory { id } } }",
        {"id": world.ids["a1:memory"]},
    )
    await alice.data(
        'mutation { updateUser(input: {userId: "alice", firstName: "A"}) { user { id } } }'
    )
    await alice.data('mutation { deleteMemories(sessionId: "a1") { deletedCount } }')
    await alice.data('mutation { deleteSession(sessionId: "a2") { deletedId } }')
    data = await world.admin.data(
        '{ a1: session(sessionId: "a1") { metadata memories { totalCount } } '
        'a2: session(sessionId: "a2") { id } user(userId: "alice") { firstName } }'
    )
    assert data == {
        "a1": {"metadata": {"x": 1}, "memories": {"totalCount": 0}},
        "a2": None,
        "user": {"firstName": "A"},
    }


async def test_add_memory_to_a_new_session_creates_it_owned_by_the_user(world: World) -> None:
    await world.alice.data(
        'mutation { addMemory(input: {sessionId: "fresh", memories: [{role: "h", content: "hi"}]})'
        " { session { userId } } }"
    )
    data = await world.admin.data('{ session(sessionId: "fresh") { userId } }')
    assert data["session"] == {"userId": "alice"}
    assert await world.bob.code('{ session(sessionId: "fresh") { id } }') == "FORBIDDEN"


async def test_add_session_by_a_user_is_owned_by_that_user(world: World) -> None:
    data = await world.alice.data(
        'mutation { addSession(input: {sessionId: "mine"}) { session { userId } } }'
    )
    assert data["addSession"]["session"] == {"userId": "alice"}


async def test_a_user_can_undelete_its_own_session_with_add_memory(world: World) -> None:
    await world.alice.data('mutation { deleteSession(sessionId: "a1") { deletedId } }')
    assert await world.alice.code('{ session(sessionId: "a1") { id } }') == "FORBIDDEN"
    await world.alice.data(
        'mutation { addMemory(input: {sessionId: "a1", memories: [{role: "h", content: "again"}]})'
        " { session { id } } }"
    )
    data = await world.alice.data('{ session(sessionId: "a1") { memories { totalCount } } }')
    assert data["session"]["memories"]["totalCount"] == 1


async def test_only_admins_write_the_reserved_system_metadata_key(world: World) -> None:
    before = await snapshot(world.admin)
    error = await world.alice.error(
        'mutation { updateSession(input: {sessionId: "a1", metadata: {system: {x: 1}}})'
        " { session { id } } }"
    )
    assert error["extensions"] == {"code": "FORBIDDEN", "field": "input.metadata.system"}
    error = await world.alice.error(
        'mutation { addMemory(input: {sessionId: "a1", memories: '
        '[{role: "h", content: "c", metadata: {system: 1}}]}) { session { id } } }'
    )
    assert error["extensions"] == {
        "code": "FORBIDDEN",
        "field": "input.memories[0].metadata.system",
    }
    assert await snapshot(world.admin) == before
    data = await world.admin.data(
        'mutation { updateSession(input: {sessionId: "a1", metadata: {system: {x: 1}}})'
        " { session { metadata } } }"
    )
    assert data["updateSession"]["session"]["metadata"] == {"system": {"x": 1}}
    nested = await world.alice.data(
        'mutation { updateSession(input: {sessionId: "a1", metadata: {other: {system: 1}}})'
        " { session { metadata } } }"
    )
    assert nested["updateSession"]["session"]["metadata"]["other"] == {"system": 1}


async def test_purge_deleted_is_for_admins(world: World) -> None:
    await world.admin.data('mutation { deleteSession(sessionId: "b1") { deletedId } }')
    assert await world.alice.code("mutation { purgeDeleted { sessions } }") == "FORBIDDEN"
    data = await world.admin.data("mutation { purgeDeleted { sessions memories } }")
    assert data["purgeDeleted"] == {"sessions": 1, "memories": 1}


async def test_the_playground_page_needs_no_token(world: World) -> None:
    response = await world.admin.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    query = await world.admin.http.get(
        "/graphql", params={"query": "{ users { totalCount } }"}, headers={"accept": "text/html"}
    )
    assert query.status_code == 401


DELETED_USER_REQUESTS = [
    'mutation { addMemory(input: {sessionId: "a1", memories: [{role: "h", content: "x"}]}) '
    "{ memories { id } } }",
    'mutation { addSession(input: {sessionId: "a9"}) { session { id } } }',
    'mutation { addUser(input: {userId: "alice"}) { user { id } } }',
    "{ users { totalCount } }",
]


async def test_a_deleted_users_token_is_refused_until_the_user_is_created_again(
    world: World,
) -> None:
    await world.admin.data('mutation { deleteUser(userId: "alice") { deletedId } }')
    before = await snapshot(world.admin)
    for document in DELETED_USER_REQUESTS:
        response = await world.alice.http.post(
            "/graphql", json={"query": document}, headers=world.alice.headers
        )
        assert response.status_code == 401, document
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "deleted" in error["message"]
    assert await snapshot(world.admin) == before
    await world.admin.data('mutation { addUser(input: {userId: "alice"}) { user { id } } }')
    assert await world.alice.data("{ users { totalCount } }") == {"users": {"totalCount": 1}}


async def test_a_user_token_is_checked_against_deletion_once_per_few_seconds(
    world: World,
) -> None:
    """No database read per request: the first request of a token reads its user, the next
    ones (within DELETED_USERS_TTL seconds) do not."""
    zoe = world.admin.with_token(token_for("zoe"))
    reads = []
    for _ in range(3):
        with counting_calls() as calls:
            await zoe.data("{ users { totalCount } }")
        reads.append(calls.of("users").count("users.find_one"))
    assert reads == [1, 0, 0]


async def test_another_processs_deletion_is_seen_within_the_ttl() -> None:
    db = Database.connect(make_settings(mongodb_url=None))
    await db.users.insert_many([{"userId": "carol", "deletedAt": None}])
    deleted_users = DeletedUsers(db.users, ttl=0.05)
    carol = Viewer(admin=False, user_id="carol")
    assert await deleted_users.admit(carol) == carol
    # Deleted by another process: this one still answers from what it read...
    await db.users.update_one({"userId": "carol"}, {"$set": {"deletedAt": utc_now()}})
    assert await deleted_users.admit(carol) == carol
    await asyncio.sleep(0.06)
    # ...for at most the ttl.
    with pytest.raises(Unauthenticated):
        await deleted_users.admit(carol)
    # A userId never created is not a deleted one.
    assert await deleted_users.admit(Viewer(admin=False, user_id="dave"))
    db.close()
