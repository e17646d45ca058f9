"""searchMemories: which memories match (words, case and accents ignored), in what order (BM25,
ties newest first), in whose scope, in pages that memories added meanwhile do not shift, and
every refusal."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import bm25s
import pytest

from app.persistence.transfer import export_documents, import_documents, read_lines
from app.search_terms import search_terms, shared
from app.store import search as search_module
from app.store.keyset import PageRequest
from app.store.search import bm25_scores
from tests.support.client import GraphQLClient, running_app
from tests.support.data import World, add_memories, add_session, add_user
from tests.support.stores import make_settings, requires_mongodb

SEARCH = """
query($text: String!, $sessionId: String, $userId: String, $first: Int, $after: String) {
  searchMemories(
    text: $text, sessionId: $sessionId, userId: $userId, first: $first, after: $after
  ) {
    totalCount
    edges { score cursor node { uuid content sessionId } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def search(api: GraphQLClient, text: str, **arguments: Any) -> dict[str, Any]:
    data = await api.data(SEARCH, {"text": text, **arguments})
    found: dict[str, Any] = data["searchMemories"]
    return found


async def contents(api: GraphQLClient, text: str, **arguments: Any) -> list[str]:
    found = await search(api, text, **arguments)
    return [edge["node"]["content"] for edge in found["edges"]]


async def search_code(api: GraphQLClient, text: str, **arguments: Any) -> dict[str, Any]:
    error = await api.error(SEARCH, {"text": text, **arguments})
    extensions: dict[str, Any] = error["extensions"]
    return extensions


async def test_words_match_whatever_their_case_and_accents(api: GraphQLClient) -> None:
    await add_memories(
        api,
        "s",
        ["Rooibos has no caffeine", "I had a CAFÉ au lait", "Nothing to see here", "naïve tea"],
    )
    assert await contents(api, "rooibos") == ["Rooibos has no caffeine"]
    assert await contents(api, "ROOIBOS") == ["Rooibos has no caffeine"]
    assert await contents(api, "cafe") == ["I had a CAFÉ au lait"]
    assert await contents(api, "Café") == ["I had a CAFÉ au lait"]
    assert await contents(api, "naive") == ["naïve tea"]
    # Whole words only: no stemming, no prefixes.
    assert await contents(api, "caff") == []
    assert await contents(api, "rooibos?!") == ["Rooibos has no caffeine"]


async def test_every_score_is_positive_and_edges_are_memories(api: GraphQLClient) -> None:
    added = await add_memories(api, "s", ["tea", "tea tea", "coffee"])
    found = await search(api, "tea", sessionId="s")
    assert found["totalCount"] == 2
    assert all(edge["score"] > 0 for edge in found["edges"])
    assert {edge["node"]["uuid"] for edge in found["edges"]} == {m["uuid"] for m in added[:2]}
    assert all(edge["node"]["sessionId"] == "s" for edge in found["edges"])


async def test_a_rarer_word_ranks_higher(api: GraphQLClient) -> None:
    await add_memories(
        api, "s", ["rooibos please", "tea please", "tea again", "tea once", "tea twice"]
    )
    found = await contents(api, "rooibos tea")
    assert found[0] == "rooibos please"
    assert len(found) == 5


async def test_more_matching_words_rank_higher(api: GraphQLClient) -> None:
    await add_memories(api, "s", ["green tea", "rooibos tea here", "rooibos", "coffee"])
    found = await contents(api, "rooibos tea")
    assert found[0] == "rooibos tea here"
    assert sorted(found[1:]) == ["green tea", "rooibos"]


async def test_equal_scores_go_newest_first(api: GraphQLClient) -> None:
    await add_memories(api, "s", ["same words", "other"])
    await add_memories(api, "t", ["same words"])
    first = await search(api, "same")
    await add_memories(api, "s", ["same words"])
    newest = await search(api, "same")
    assert len({edge["score"] for edge in newest["edges"]}) == 1
    ids = [edge["node"]["uuid"] for edge in newest["edges"]]
    assert ids[1:] == [edge["node"]["uuid"] for edge in first["edges"]]
    # Memories of one call share their time: the later one (by position) is the newer.
    await add_memories(api, "u", ["twin words", "twin words"])
    twins = await api.data(
        '{ session(sessionId: "u") { memories(first: 2) { edges { node { uuid } } } } }'
    )
    order = [edge["node"]["uuid"] for edge in twins["session"]["memories"]["edges"]]
    found = await search(api, "twin")
    assert [edge["node"]["uuid"] for edge in found["edges"]] == order[::-1]


async def test_scope_is_a_session_a_users_sessions_or_everything(api: GraphQLClient) -> None:
    await add_user(api, "alice")
    await add_user(api, "bob")
    await add_session(api, "a1", userId="alice")
    await add_session(api, "a2", userId="alice")
    await add_session(api, "b1", userId="bob")
    for session in ("a1", "a2", "b1", "loose"):
        await add_memories(api, session, [f"tea in {session}"])
    assert await contents(api, "tea", sessionId="a1") == ["tea in a1"]
    assert sorted(await contents(api, "tea", userId="alice")) == ["tea in a1", "tea in a2"]
    assert await contents(api, "tea", userId="alice", sessionId="a2") == ["tea in a2"]
    assert sorted(await contents(api, "tea")) == [
        "tea in a1",
        "tea in a2",
        "tea in b1",
        "tea in loose",
    ]
    assert await contents(api, "tea", userId="nobody") == []
    # An admin naming what is not there: NOT_FOUND, as elsewhere.
    assert await search_code(api, "tea", sessionId="gone") == {
        "code": "NOT_FOUND",
        "field": "sessionId",
    }
    assert await search_code(api, "tea", sessionId="b1", userId="alice") == {
        "code": "NOT_FOUND",
        "field": "sessionId",
    }


async def test_a_user_token_finds_only_its_own_memories(world: World) -> None:
    # Each session of the world holds one memory whose content is its sessionId.
    await add_memories(world.admin, "b1", ["a1 a2 free mentioned by bob"])
    assert sorted(await contents(world.alice, "a1 a2 b1 free")) == ["a1", "a2"]
    assert sorted(await contents(world.alice, "a1 a2 b1 free", userId="alice")) == ["a1", "a2"]
    assert await contents(world.alice, "a1 a2 b1 free", sessionId="a2") == ["a2"]
    assert sorted(await contents(world.bob, "a1 a2 b1 free")) == [
        "a1 a2 free mentioned by bob",
        "b1",
    ]


async def test_other_users_scopes_are_refused_alike_whether_or_not_they_exist(
    world: World,
) -> None:
    existing = await world.alice.error(SEARCH, {"text": "b1", "sessionId": "b1"})
    missing = await world.alice.error(SEARCH, {"text": "b1", "sessionId": "zz"})
    assert (
        existing["extensions"]
        == missing["extensions"]
        == {
            "code": "FORBIDDEN",
            "field": "sessionId",
        }
    )
    assert existing["message"].replace("b1", "zz") == missing["message"]
    # A session without a user is not alice's either.
    free = await world.alice.error(SEARCH, {"text": "free", "sessionId": "free"})
    assert free["extensions"]["code"] == "FORBIDDEN"
    other_user = await world.alice.error(SEARCH, {"text": "b1", "userId": "bob"})
    no_user = await world.alice.error(SEARCH, {"text": "b1", "userId": "ghost"})
    assert (
        other_user["extensions"]
        == no_user["extensions"]
        == {
            "code": "FORBIDDEN",
            "field": "userId",
        }
    )
    assert other_user["message"] == no_user["message"]
    anonymous = GraphQLClient(world.admin.http, world.admin.app)
    assert (await anonymous.error(SEARCH, {"text": "b1"}))["extensions"]["code"] == (
        "UNAUTHENTICATED"
    )
    # Her own userId with bob's session: refused as bob's session is anywhere.
    mixed = await world.alice.error(SEARCH, {"text": "b1", "sessionId": "b1", "userId": "alice"})
    assert mixed["extensions"] == existing["extensions"]
    assert mixed["message"] == existing["message"]


async def test_deleted_memories_sessions_and_users_are_never_found(world: World) -> None:
    admin = world.admin
    await add_memories(admin, "a2", ["kept words"])
    await add_memories(admin, "b1", ["kept words too"])
    await admin.data('mutation { deleteMemories(sessionId: "a1") { deletedCount } }')
    assert await contents(admin, "a1") == []
    await admin.data('mutation { deleteSession(sessionId: "a2") { deletedId } }')
    assert await contents(admin, "a2 kept") == ["kept words too"]
    assert await contents(world.alice, "a2 kept") == []
    assert await search_code(admin, "kept", sessionId="a2") == {
        "code": "NOT_FOUND",
        "field": "sessionId",
    }
    await admin.data('mutation { deleteUser(userId: "bob") { deletedId } }')
    assert await contents(admin, "kept b1") == []
    assert await contents(admin, "free") == ["free"]
    # A deleted session brought back shows only what was added since.
    await add_memories(admin, "a2", ["back again"])
    assert await contents(admin, "a2 kept back") == ["back again"]


async def test_pages_neither_skip_nor_repeat_while_memories_are_added(api: GraphQLClient) -> None:
    await add_memories(api, "s", [f"tea number {n}" + " tea" * (n % 4) for n in range(12)])
    whole = await search(api, "tea", first=100)
    expected = [edge["node"]["uuid"] for edge in whole["edges"]]
    assert len(expected) == 12
    seen: list[str] = []
    after = None
    for round_ in range(10):
        page = await search(api, "tea number", first=5, after=after)
        assert page["totalCount"] == 12
        seen += [edge["node"]["uuid"] for edge in page["edges"]]
        # New memories that would rank first, and in another session of the scope too.
        await add_memories(api, "s", ["tea tea tea number number", f"tea {round_}"])
        await add_memories(api, "t", ["tea number tea"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 12
    assert set(seen) == set(expected)
    again = await search(api, "tea number", first=100)
    assert again["totalCount"] == 12 + 3 * 3


async def test_page_info_says_what_lies_around_a_page(api: GraphQLClient) -> None:
    await add_memories(api, "s", ["tea"] * 5)
    first = await search(api, "tea", first=2)
    assert first["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": first["edges"][0]["cursor"],
        "endCursor": first["edges"][1]["cursor"],
    }
    last = await search(api, "tea", first=3, after=first["pageInfo"]["endCursor"])
    assert len(last["edges"]) == 3
    assert last["pageInfo"]["hasNextPage"] is False
    assert last["pageInfo"]["hasPreviousPage"] is True
    empty = await search(api, "coffee", first=2)
    assert empty == {
        "totalCount": 0,
        "edges": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }


async def test_a_memory_deleted_between_pages_vanishes(api: GraphQLClient) -> None:
    await add_memories(api, "s", ["tea one", "tea two"])
    await add_memories(api, "t", ["tea three", "tea four"])
    first = await search(api, "tea", first=1)
    await api.data('mutation { deleteSession(sessionId: "t") { deletedId } }')
    rest = await search(api, "tea", first=10, after=first["pageInfo"]["endCursor"])
    shown = [first["edges"][0]["node"]["content"]] + [
        edge["node"]["content"] for edge in rest["edges"]
    ]
    assert all(content in ("tea one", "tea two") for content in shown[1:])
    assert "tea three" not in shown[1:] and "tea four" not in shown[1:]


async def test_bad_text_pages_and_cursors_are_bad_user_input(api: GraphQLClient) -> None:
    await add_memories(api, "s", ["tea"] * 3)
    for text in ("", "   \n\t", "a" * 1001):
        assert await search_code(api, text) == {"code": "BAD_USER_INPUT", "field": "text"}
    assert await contents(api, "tea " + "b" * 996) == ["tea"] * 3
    assert await contents(api, "?!") == []
    assert (await search_code(api, "tea", first=101))["code"] == "BAD_USER_INPUT"
    assert (await search_code(api, "tea", first=-1))["code"] == "BAD_USER_INPUT"
    assert await search_code(api, "tea", after="bm9wZQ") == {
        "code": "BAD_USER_INPUT",
        "field": "after",
    }
    memories = await api.data(
        '{ session(sessionId: "s") { memories(first: 1) { pageInfo { endCursor } } } }'
    )
    other_kind = memories["session"]["memories"]["pageInfo"]["endCursor"]
    assert (await search_code(api, "tea", after=other_kind))["code"] == "BAD_USER_INPUT"
    page = await search(api, "tea", first=1)
    cursor = page["pageInfo"]["endCursor"]
    assert await search_code(api, "coffee", after=cursor) == {
        "code": "BAD_USER_INPUT",
        "field": "after",
    }
    assert (await search_code(api, "tea", sessionId="s", after=cursor))["code"] == (
        "BAD_USER_INPUT"
    )
    assert (await search_code(api, "tea", sessionId=""))["code"] == "BAD_USER_INPUT"
    # Forward only: a ranking is read from its start.
    body = await api.post('{ searchMemories(text: "tea", last: 1) { totalCount } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Unknown argument 'last'" in body["errors"][0]["message"]


async def test_the_node_limit_counts_a_search_like_any_connection(api: GraphQLClient) -> None:
    nested = """
    { searchMemories(text: "tea", first: 100) {
        edges { node { session { memories(first: 100) { edges { node { uuid } } } } } } } }
    """
    error = await api.error(nested)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["nodes"] == 100 + 100 * 100
    within = nested.replace("memories(first: 100)", "memories(first: 10)")
    assert "errors" not in await api.post(within)


async def test_memories_stored_without_search_terms_are_backfilled(api: GraphQLClient) -> None:
    """As a memql before search stored them (old snapshots, MongoDB data, older exports): the
    start-up's index reconciliation gives them their words."""
    await add_memories(api, "s", ["Rooibos tea", "green tea", "?!"])
    memories = api.store.db.memories
    await memories.update_many({}, {"$unset": {"searchTerms": ""}})
    assert await contents(api, "tea") == []
    report = await api.store.db.ensure_indexes()
    assert report.backfilled == 3
    assert "search terms added to 3 memories" in report.lines()
    assert sorted(await contents(api, "TEA")) == ["Rooibos tea", "green tea"]
    stored = {raw["content"]: raw["searchTerms"] async for raw in memories.find({})}
    assert stored == {"Rooibos tea": ["rooibos", "tea"], "green tea": ["green", "tea"], "?!": []}
    again = await api.store.db.ensure_indexes()
    assert again.backfilled == 0


@requires_mongodb
async def test_on_mongodb_a_search_reads_the_search_index(api: GraphQLClient) -> None:
    await add_session(api, "s1")
    await add_memories(api, "s1", ["tea time", "coffee time"])
    await add_memories(api, "s2", ["more tea"])
    db = api.store.db.db
    # The shapes SecantusDB plans on an index (docs/operations.md: it scans the collection for
    # an `$in` beside other fields, where MongoDB bounds every field of the index): one word in
    # one session, and the backfill's memories without words.
    for match in (
        {"searchTerms": "tea", "deletedAt": None, "sessionId": "s1"},
        {"searchTerms": None},
    ):
        explained = await db.command("explain", {"find": "memories", "filter": match})
        plan = explained["queryPlanner"]["winningPlan"]
        assert plan["inputStage"]["stage"] == "IXSCAN", plan
        assert plan["inputStage"]["indexName"] == "searchTerms_sessionId_deletedAt", plan


async def test_a_snapshot_of_memories_without_search_terms_comes_back_searchable(
    tmp_path: Path,
) -> None:
    settings = make_settings(mongodb_url=None, data_dir=tmp_path / "data")
    async with running_app(settings) as api:
        await add_memories(api, "s", ["Rooibos tea"])
        await api.store.db.memories.update_many({}, {"$unset": {"searchTerms": ""}})
    async with running_app(settings) as api:
        assert await contents(api, "rooibos") == ["Rooibos tea"]


async def test_an_export_without_search_terms_imports_searchable() -> None:
    exported = io.BytesIO()
    async with running_app() as source:
        await add_memories(source, "s", ["Rooibos tea", "café"])
        await source.store.db.memories.update_many({}, {"$unset": {"searchTerms": ""}})
        await export_documents(source.store.db, exported)
    assert b"searchTerms" not in exported.getvalue()
    async with running_app() as target:
        lines = exported.getvalue().splitlines(keepends=True)
        await import_documents(target.store.db, read_lines(lines))
        assert await contents(target, "rooibos") == ["Rooibos tea"]
        assert await contents(target, "CAFE") == ["café"]


async def test_a_large_ranking_gives_the_same_answer_in_a_thread(
    api: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_memories(api, "s", [f"tea {'tea ' * (n % 5)}number {n}" for n in range(30)])
    inline = await search(api, "tea number", first=100)
    monkeypatch.setattr(search_module, "RANK_IN_THREAD", 10)
    threaded = await search(api, "tea number", first=100)
    assert threaded == inline


def test_the_ranking_gives_bm25s_own_scores_of_every_word() -> None:
    """bm25_scores hands bm25s only the query's words (the rest as one other word): the
    scores are those of an index of every word, and each is above 0 for a match."""
    generator = random.Random(32)
    vocabulary = [f"w{index}" for index in range(300)] + ["tea", "rooibos"]
    documents = [
        [generator.choice(vocabulary) for _ in range(generator.randint(1, 30))] + ["tea"]
        for _ in range(500)
    ]
    for query in (["tea"], ["rooibos", "tea"], ["w7", "w8", "absent"]):
        every_word = bm25s.BM25()
        every_word.index(documents, show_progress=False)
        expected = [float(score) for score in every_word.get_scores(query)]
        assert bm25_scores(documents, query) == expected
    assert all(score > 0 for score in bm25_scores(documents, ["tea"]))


def test_stored_words_are_one_string_each_for_every_memory() -> None:
    """The embedded store keeps each memory's words: one string object per word, not per
    memory, whether the memory was added or restored from a snapshot."""
    first, second = search_terms("Rooibos tea"), search_terms("green TEA")
    assert first == ["rooibos", "tea"] and second == ["green", "tea"]
    assert first[1] is second[1]
    decoded = ["".join(["t", "e", "a"])]
    assert decoded[0] is not first[1]
    assert shared(decoded)[0] is first[1]


async def test_memory_reads_leave_the_words_out(api: GraphQLClient) -> None:
    """A memory's words are search's alone: pages of memories (one session's, and several
    sessions' at once, which is one aggregate on MongoDB) and reads by uuid never copy them."""
    await add_memories(api, "s", ["rooibos has no caffeine"])
    await add_memories(api, "t", ["green tea has some"])
    read: list[dict[str, Any]] = []
    lists = api.store.memories.of_sessions()
    decode = lists.decode

    def recorded(raw: dict[str, Any]) -> Any:
        read.append(raw)
        return decode(raw)

    lists.decode = recorded
    await lists.pages(["s", "t"], PageRequest(limit=10))
    await lists.of("s").page(PageRequest(limit=10, backward=True))
    assert len(read) == 3
    assert all("searchTerms" not in raw and raw["content"] for raw in read)
    uuids = [raw["_id"] for raw in read]
    assert [doc.uuid for doc in await api.store.memories.get_many(uuids)]
    stored = await api.store.db.memories.find_one({"_id": uuids[0]})
    assert stored is not None and "rooibos" in stored["searchTerms"]
