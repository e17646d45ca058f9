"""The embedded store's indexes (app.persistence.indexes) give mongomock's own answers: random
documents, writes and queries of the shapes memql issues, on an indexed and a plain collection."""

from __future__ import annotations

import hashlib
import inspect
from datetime import datetime, timedelta
from importlib.metadata import version
from typing import Any

import mongomock
import pytest
from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mongomock.collection import Collection, Cursor
from mongomock.store import CollectionStore

from app.db import MEMORIES, SESSIONS
from app.indexes import embedded_indexes
from app.persistence import indexes
from app.persistence.indexes import IndexedCollectionStore, install

T0 = datetime(2026, 1, 1)
SESSION_IDS = ["s0", "s1", "s2", "s3"]

ids = st.one_of(st.sampled_from([f"m{i}" for i in range(12)]), st.builds(ObjectId))
session_ids = st.sampled_from(
    [*SESSION_IDS * 5, None, ["s0", "s1"]]  # a list matches each of its elements
)
deleted_ats = st.one_of(st.none(), st.sampled_from([T0, T0 + timedelta(days=1)]))
seqs = st.sampled_from(
    [*range(9), *range(9), *range(9), 2.5, "7", None, True]  # and kinds the index leaves to a scan
)
created_ats = st.sampled_from([T0 + timedelta(seconds=second) for second in range(5)])
WORDS = ["tea", "rooibos", "cafe"]
search_terms = st.one_of(
    st.lists(st.sampled_from(WORDS), max_size=3),  # repeats too: filed once under each
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=3, unique=True).map(sorted),
    st.sampled_from([[], None, "tea", [None, "tea"], [["tea"]], ["tea", {"a": 1}], [1, True]]),
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {"_id": draw(ids)}
    for name, values in (
        ("sessionId", session_ids),
        ("userId", st.sampled_from(["u0", "u1", None])),
        ("deletedAt", deleted_ats),
        ("seq", seqs),
        ("createdAt", created_ats),
        ("searchTerms", search_terms),
    ):
        if draw(st.integers(0, 9)):  # now and then, a field is missing
            document[name] = draw(values)
    return document


one_session = st.sampled_from([*SESSION_IDS, None])
seq_bound = st.integers(0, 8)


@st.composite
def filters(draw: st.DrawFn) -> dict[str, Any]:
    """The shapes memql's stores and keyset pages send."""
    shape = draw(st.integers(0, 12))
    live = {"deletedAt": None} if draw(st.booleans()) else {}
    if shape == 0:
        return {"sessionId": draw(one_session), **live}
    if shape == 1:
        wanted = draw(st.lists(one_session, max_size=3))
        return {"sessionId": {"$in": wanted}, **live}
    if shape == 2:
        operator = draw(st.sampled_from(["$lt", "$gt", "$lte", "$gte"]))
        return {"sessionId": draw(one_session), **live, "seq": {operator: draw(seq_bound)}}
    if shape == 3:
        return {"_id": {"$in": draw(st.lists(ids, max_size=4))}, **live}
    if shape == 4:  # a keyset range over (createdAt, _id), as app.store.keyset writes it
        at = draw(created_ats)
        return {
            "$and": [
                {"userId": draw(st.sampled_from(["u0", "u1"])), **live},
                {"$or": [{"createdAt": {"$gt": at}}, {"createdAt": at, "_id": {"$gt": "m5"}}]},
            ]
        }
    if shape == 5:
        return {"_id": draw(ids)}
    if shape == 6:
        return {"deletedAt": None, "createdAt": {"$lte": draw(created_ats)}}
    if shape == 7:
        return {"$and": [{"sessionId": draw(one_session)}, {"seq": {"$gte": draw(seq_bound)}}]}
    if shape == 8:  # the purge of what was deleted before a time
        operator = draw(st.sampled_from(["$lt", "$lte", "$gt", "$gte"]))
        return {"deletedAt": {operator: draw(st.sampled_from([T0, T0 + timedelta(hours=1)]))}}
    if shape == 9:
        return {"deletedAt": {"$ne": None}}  # the purge of everything deleted
    words = draw(st.lists(st.sampled_from([*WORDS, "absent"]), min_size=1, max_size=3))
    if shape == 10:  # a search of one session, or of a user's sessions
        sessions = draw(st.lists(st.sampled_from(SESSION_IDS), min_size=1, max_size=3))
        scope = sessions[0] if len(sessions) == 1 else {"$in": sessions}
        terms = words[0] if len(words) == 1 else {"$in": words}
        return {"searchTerms": terms, **live, "sessionId": scope}
    if shape == 11:  # a search of everything
        return {"searchTerms": {"$in": words}, **live}
    return {"searchTerms": None}  # the backfill's memories without words


sorts = st.sampled_from(
    [None, [("seq", 1)], [("seq", -1)], [("createdAt", 1), ("_id", 1)], [("createdAt", -1)]]
)

updates = st.one_of(
    st.fixed_dictionaries({"$set": st.fixed_dictionaries({"sessionId": session_ids})}),
    st.fixed_dictionaries({"$set": st.fixed_dictionaries({"deletedAt": deleted_ats})}),
    st.fixed_dictionaries({"$set": st.fixed_dictionaries({"seq": seqs})}),
    st.just({"$unset": {"seq": ""}}),
    st.fixed_dictionaries({"$set": st.fixed_dictionaries({"searchTerms": search_terms})}),
    st.just({"$unset": {"searchTerms": ""}}),
    st.just({"$inc": {"seq": 1}}),
)

writes = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), documents()),
        st.tuples(st.just("update_many"), filters(), updates),
        st.tuples(st.just("update_one"), filters(), updates),
        st.tuples(st.just("delete_many"), filters()),
        st.tuples(st.just("find_one_and_update"), filters(), updates),
    ),
    max_size=12,
)

queries = st.lists(
    st.tuples(filters(), sorts, st.integers(0, 3), st.integers(0, 6)), min_size=1, max_size=8
)


def collections(name: str) -> tuple[Any, Any]:
    plain: Any = mongomock.MongoClient()["db"][name]
    indexed: Any = mongomock.MongoClient()["db"][name]
    install(indexed, embedded_indexes()[name])
    return plain, indexed


def write(collection: Any, operation: tuple[Any, ...]) -> Any:
    kind, *arguments = operation
    try:
        if kind == "insert":
            return collection.insert_one(dict(arguments[0])).inserted_id
        if kind == "update_many":
            return collection.update_many(*arguments).modified_count
        if kind == "update_one":
            return collection.update_one(*arguments).modified_count
        if kind == "delete_many":
            return collection.delete_many(*arguments).deleted_count
        return collection.find_one_and_update(*arguments, sort=[("seq", -1)])
    except Exception as error:
        return type(error).__name__


def read(collection: Any, query: tuple[Any, ...]) -> Any:
    spec, sort, skip, limit = query
    try:
        cursor = collection.find(spec, sort=sort).skip(skip).limit(limit)
        return (
            list(cursor),
            collection.find_one(spec, sort=sort),
            collection.count_documents(spec),
            list(collection.find(spec, {"seq": 1, "_id": 0})),
        )
    except Exception as error:
        return type(error).__name__


@pytest.mark.parametrize("name", [MEMORIES, SESSIONS])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stored=st.lists(documents(), max_size=25), changes=writes, asked=queries)
def test_an_indexed_collection_answers_as_mongomock_does(
    name: str, stored: list[dict[str, Any]], changes: list[Any], asked: list[Any]
) -> None:
    plain, indexed = collections(name)
    for document in stored:
        assert write(plain, ("insert", document)) == write(indexed, ("insert", document))
    for query in asked:
        assert read(indexed, query) == read(plain, query), query
    for change in changes:
        assert write(indexed, change) == write(plain, change), change
    for query in asked:
        assert read(indexed, query) == read(plain, query), query
    store = indexed._store
    assert isinstance(store, IndexedCollectionStore)
    assert sorted(store.ordinals, key=str) == sorted(plain._store._documents, key=str)


@pytest.mark.parametrize("limit", [0, 1, 2, 3])
def test_equal_keys_read_backwards_keep_their_natural_order(limit: int) -> None:
    """mongomock's sort is stable, descending too: ties stay in insertion order."""
    plain, indexed = collections(MEMORIES)
    stored = [
        {"_id": name, "sessionId": "s", "seq": seq}
        for name, seq in (("a", 1), ("b", 2), ("c", 1), ("d", 2), ("e", 3))
    ]
    for collection in (plain, indexed):
        collection.insert_many([dict(document) for document in stored])
    for sort in ([("seq", -1)], [("seq", 1)]):
        query = ({"sessionId": "s", "deletedAt": None}, sort, 0, limit)
        assert read(indexed, query) == read(plain, query)
    [page, *_] = read(indexed, ({"sessionId": "s", "deletedAt": None}, [("seq", -1)], 0, 0))
    assert [document["_id"] for document in page] == ["e", "b", "d", "a", "c"]


def test_a_page_of_one_session_reads_its_entries_not_the_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`find(session, seq < n).sort(seq, -1).limit(51)` tests about 51 documents of a
    100,000-memory collection against its filter, and a count of a session none."""
    _, memories = collections(MEMORIES)
    memories.insert_many(
        [
            {"_id": f"m{s}-{q}", "sessionId": f"s{s}", "seq": q}
            for s in range(1000)
            for q in range(1, 101)
        ]
    )
    tested = 0
    original: Any = mongomock.filtering.filter_applies

    def counting(spec: Any, document: Any) -> bool:
        nonlocal tested
        tested += 1
        return bool(original(spec, document))

    monkeypatch.setattr(mongomock.filtering, "filter_applies", counting)
    page = list(
        memories.find({"sessionId": "s7", "deletedAt": None, "seq": {"$lt": 90}})
        .sort("seq", -1)
        .limit(51)
    )
    assert tested <= 52, tested
    assert memories.count_documents({"sessionId": "s7", "deletedAt": None}) == 100
    assert tested <= 52, tested
    in_sessions = list(memories.find({"sessionId": {"$in": ["s1", "s2"]}}))
    assert tested <= 52 + 200, tested
    assert [memory["seq"] for memory in page] == list(range(89, 38, -1))
    assert len(in_sessions) == 200


def test_a_snapshot_restore_and_a_drop_keep_the_indexes_true() -> None:
    _, memories = collections(MEMORIES)
    memories.insert_many([{"_id": f"m{q}", "sessionId": "s", "seq": q} for q in range(10)])
    memories.drop()
    assert list(memories.find({"sessionId": "s"})) == []
    memories.insert_many([{"_id": "m1", "sessionId": "s", "seq": 1}])
    assert [m["_id"] for m in memories.find({"sessionId": "s"}).sort("seq", -1)] == ["m1"]


# The mongomock internals app.persistence.indexes relies on, as mongomock 4.3.0 wrote them: a
# change to any of them fails here first, before it can make an index disagree with the data.
RELIED_ON = {
    "Collection._iter_documents": "aed52162ed03559f",
    "Collection.find": "30579665555b9a30",
    "Collection.find_one": "91559ffe00c314a1",
    "Collection.count_documents": "a3fda3de1bd7e5be",
    "Collection._apply_update_document": "7f38fc47e65bdcb4",
    "Collection._apply_update_pipeline": "f55b6ee64fff7afc",
    "Collection._update": "3db2c47fedfaf5ad",
    "Collection._insert": "dde5bac79a59d984",
    "Collection._delete": "8e0b60ea000e028e",
    "Collection._get_dataset": "d18fbc7247ffd3b4",
    "Collection._copy_only_fields": "c7ec109fb7ba3833",
    "Collection._store": "8a6644b404304a12",
    "Cursor.__init__": "9f1e913b4dff0143",
    "Cursor._compute_results": "3f57a9bdd3a138af",
    "Cursor.__next__": "71c51e73f7a46d31",
    "CollectionStore": "d58ef80434dcdfe4",
}


def _source(qualified: str) -> str:
    owner_name, _, attribute = qualified.partition(".")
    owner = {"Collection": Collection, "Cursor": Cursor, "CollectionStore": CollectionStore}[
        owner_name
    ]
    target = indexes.WRAPPED.get(qualified) or (
        owner if not attribute else inspect.getattr_static(owner, attribute)
    )
    target = getattr(target, "fget", target)
    target = inspect.unwrap(target)
    return inspect.getsource(target)


def test_the_mongomock_internals_the_indexes_rely_on_are_those_they_were_written_for() -> None:
    assert version("mongomock") == indexes.MONGOMOCK_VERSION
    digests = {name: hashlib.sha256(_source(name).encode()).hexdigest()[:16] for name in RELIED_ON}
    assert digests == RELIED_ON


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    stored=documents(),
    excluded=st.sets(
        st.sampled_from(["searchTerms", "metadata", "content", "_id", "nested"]), min_size=1
    ),
)
def test_a_projection_leaving_fields_out_copies_as_mongomock_does(
    stored: dict[str, Any], excluded: set[str]
) -> None:
    """Memory reads leave a memory's words out; the indexed cursor copies what is left itself
    (`copy_without`), as mongomock's projection would, sharing no list or object with it."""
    document = {**stored, "nested": {"list": [1, {"a": [2]}]}}
    projection = dict.fromkeys(excluded, 0)
    fields = indexes.excluded_fields(projection)
    assert fields == frozenset(excluded)
    ours = indexes.copy_without(document, fields)
    plain: Any = mongomock.MongoClient().db.memories
    theirs = plain._copy_only_fields(document, dict(projection), dict)
    assert ours == theirs
    if "nested" in ours:
        assert ours["nested"]["list"] is not document["nested"]["list"]
    for other in ({"content": 1}, {"metadata.a": 0}, {"_id": 0, "content": 1}, {}, None):
        assert indexes.excluded_fields(other) is None
