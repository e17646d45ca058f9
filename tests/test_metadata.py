"""Metadata merge: nested merge, replacement, null removal, limits, atomicity."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.metadata import MAX_BYTES, merge_metadata_update
from app.store.metadata_update import update_merging_metadata
from tests.support.client import GraphQLClient, running_app
from tests.support.data import add_session, raw_documents

UPDATE_SESSION = """
mutation($input: UpdateSessionInput!) { updateSession(input: $input) { session { metadata } } }
"""


async def merged(api: GraphQLClient, session_id: str, patch: Any) -> dict[str, Any]:
    data = await api.data(UPDATE_SESSION, {"input": {"sessionId": session_id, "metadata": patch}})
    result: dict[str, Any] = data["updateSession"]["session"]["metadata"]
    return result


async def stored_metadata(api: GraphQLClient, session_id: str) -> dict[str, Any]:
    (doc,) = await raw_documents(api, "sessions", sessionId=session_id)
    metadata: dict[str, Any] = doc["metadata"]
    return metadata


def reference_merge(target: Any, patch: Any) -> Any:
    """RFC 7396's MergePatch, written from the RFC's pseudo-code."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = reference_merge(result.get(key), value)
    return result


async def test_nested_objects_merge_key_by_key(api: GraphQLClient) -> None:
    await add_session(api, "s", metadata={"a": {"b": 1, "c": {"d": 2}}, "keep": True})
    result = await merged(api, "s", {"a": {"c": {"e": 3}, "f": 4}})
    assert result == {"a": {"b": 1, "c": {"d": 2, "e": 3}, "f": 4}, "keep": True}
    assert await stored_metadata(api, "s") == result


async def test_scalars_and_arrays_replace_what_was_there(api: GraphQLClient) -> None:
    await add_session(api, "s", metadata={"n": 1, "list": [1, 2, 3], "s": "x"})
    result = await merged(api, "s", {"n": 2, "list": [9], "s": None})
    assert result == {"n": 2, "list": [9]}


async def test_an_object_replaces_a_scalar(api: GraphQLClient) -> None:
    await add_session(api, "s", metadata={"a": 1, "deep": {"b": "text"}})
    result = await merged(api, "s", {"a": {"x": 1, "gone": None}, "deep": {"b": {"c": True}}})
    assert result == {"a": {"x": 1}, "deep": {"b": {"c": True}}}
    assert await stored_metadata(api, "s") == result


async def test_a_scalar_replaces_an_object(api: GraphQLClient) -> None:
    await add_session(api, "s", metadata={"a": {"x": {"y": 1}}, "b": {"c": 1}})
    result = await merged(api, "s", {"a": 5, "b": {"c": [1, {"z": None}]}})
    assert result == {"a": 5, "b": {"c": [1, {"z": None}]}}


async def test_null_removes_a_key_at_any_depth(api: GraphQLClient) -> None:
    await add_session(api, "s", metadata={"a": 1, "n": {"x": 1, "y": 2}})
    assert await merged(api, "s", {"a": None, "n": {"x": None}, "absent": None}) == {"n": {"y": 2}}


async def test_empty_patch_changes_nothing(api: GraphQLClient) -> None:
    await add_session(api, "s", metadata={"a": {"b": 1}})
    assert await merged(api, "s", {}) == {"a": {"b": 1}}
    assert await merged(api, "s", {"a": {}}) == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"": 1}, "input.metadata"),
        ({"$set": 1}, "input.metadata.$set"),
        ({"a.b": 1}, "input.metadata.a.b"),
        ({"nul\x00": 1}, "input.metadata.nul\x00"),
        ({"ok": {"$where": 1}}, "input.metadata.ok.$where"),
        ({"big": 2**63}, "input.metadata.big"),
        ([1, 2], "input.metadata"),
        ("text", "input.metadata"),
    ],
)
async def test_invalid_metadata_is_rejected_and_nothing_changes(
    api: GraphQLClient, patch: Any, field: str
) -> None:
    await add_session(api, "s", metadata={"a": 1})
    before = await raw_documents(api, "sessions")
    error = await api.error(UPDATE_SESSION, {"input": {"sessionId": "s", "metadata": patch}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert await raw_documents(api, "sessions") == before


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


async def test_sixteen_levels_are_accepted_and_seventeen_rejected(api: GraphQLClient) -> None:
    await add_session(api, "s")
    assert await merged(api, "s", nested(16)) == nested(16)
    before = await raw_documents(api, "sessions")
    error = await api.error(UPDATE_SESSION, {"input": {"sessionId": "s", "metadata": nested(17)}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "16" in error["message"]
    assert await raw_documents(api, "sessions") == before


async def test_metadata_over_64_kib_as_stored_is_rejected(api: GraphQLClient) -> None:
    half = "x" * (MAX_BYTES // 2)
    await add_session(api, "s", metadata={"a": half})
    before = await raw_documents(api, "sessions")
    error = await api.error(UPDATE_SESSION, {"input": {"sessionId": "s", "metadata": {"b": half}}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.metadata"}
    assert "64 KiB" in error["message"]
    assert await raw_documents(api, "sessions") == before
    # Replacing the large value instead of adding to it fits.
    assert await merged(api, "s", {"a": None, "b": half}) == {"b": half}


async def test_oversize_metadata_on_creation_is_rejected(api: GraphQLClient) -> None:
    body = await api.post(
        'mutation($m: JSON) { addUser(input: {userId: "u", metadata: $m}) { user { id } } }',
        {"m": {"a": "x" * (MAX_BYTES + 1)}},
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.metadata"}
    assert await raw_documents(api, "users") == []


async def test_concurrent_updates_of_different_keys_all_survive(api: GraphQLClient) -> None:
    await add_session(api, "s", metadata={"shared": {"base": 0}})

    async def update(index: int) -> None:
        patch = {f"key{index}": index, "shared": {f"k{index}": index}}
        await merged(api, "s", patch)

    await asyncio.gather(*(update(index) for index in range(50)))
    stored = await stored_metadata(api, "s")
    assert {key: stored[key] for key in stored if key != "shared"} == {
        f"key{i}": i for i in range(50)
    }
    assert stored["shared"] == {"base": 0, **{f"k{i}": i for i in range(50)}}


async def test_a_type_change_between_read_and_write_is_retried(api: GraphQLClient) -> None:
    """The guard on what was read catches a concurrent object→scalar change and retries."""
    await add_session(api, "s", metadata={"a": {"x": 1}})
    collection = api.store.db.sessions
    real_find_one = collection.find_one
    calls = 0

    async def stale_find_one(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        doc = await real_find_one(*args, **kwargs)
        assert doc is not None
        if calls == 1:  # the first read sees an older value: `a` still a scalar
            doc["metadata"] = {"a": 1}
        return doc

    collection.find_one = stale_find_one  # type: ignore[method-assign]
    try:
        updated = await update_merging_metadata(
            collection, {"sessionId": "s"}, {"a": {"y": 2}}, set_fields={}
        )
    finally:
        del collection.find_one
    assert calls == 2
    assert updated is not None
    assert updated["metadata"] == {"a": {"x": 1, "y": 2}}


def test_update_document_uses_dotted_paths_and_type_guards() -> None:
    update = merge_metadata_update(
        {"a": {"b": 1}, "s": 1, "l": [{}], "gone": 2},
        {"a": {"c": 2}, "s": {"t": None, "u": 1}, "l": {"v": 1}, "new": {"w": 1}, "gone": None},
    )
    assert update.set == {
        "metadata.a.c": 2,
        "metadata.s": {"u": 1},
        "metadata.l": {"v": 1},
        "metadata.new": {"w": 1},
    }
    assert update.unset == {"metadata.gone": ""}
    assert update.guards == {
        "metadata.a": {"$type": "object", "$not": {"$type": "array"}},
        "metadata.s": {"$not": {"$type": "object"}},
        "metadata.l": {"$type": "array"},
        "metadata.new": {"$not": {"$type": "object"}},
    }


KEYS = st.sampled_from(["a", "b", "c", "d"])
SCALARS = st.one_of(
    st.integers(-1000, 1000), st.booleans(), st.text(max_size=3), st.floats(-1e6, 1e6)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(KEYS, children, max_size=3)
    ),
    max_leaves=10,
)
PATCH_VALUES = st.recursive(
    st.one_of(SCALARS, st.none(), st.lists(SCALARS, max_size=2)),
    lambda children: st.dictionaries(KEYS, children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stored=st.dictionaries(KEYS, JSON_VALUES, max_size=4),
    patches=st.lists(st.dictionaries(KEYS, PATCH_VALUES, max_size=4), min_size=1, max_size=3),
)
async def test_stored_metadata_matches_the_reference_merge(
    stored: dict[str, Any], patches: list[dict[str, Any]]
) -> None:
    async with running_app() as api:
        await add_session(api, "s", metadata=stored)
        expected: Any = stored
        for patch in patches:
            expected = reference_merge(expected, patch)
            assert await merged(api, "s", patch) == expected
        assert await stored_metadata(api, "s") == expected
