"""Drives the real zep-python 1.5.0 SDK, sync and async, and LangChain's ZepChatMessageHistory
and ZepRetriever against a live memql: run by tests/test_zep_sdk.py with the Python of a
virtualenv of their own (zep-python pins httpx<0.25), as
`python zep_sdk_driver.py BASE_URL ADMIN ALICE`, where ADMIN and ALICE are tokens. It asserts
what the SDK sees, then prints as JSON what the test checks through GraphQL. It imports nothing
of memql's.

Before it runs, the test adds through GraphQL the user `gql-user` with the session `gql-session`
(messages "question" by human, "answer" by ai), and alice with her session `alice-s`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
import warnings
from datetime import datetime
from typing import Any, TypeVar

from langchain_community.chat_message_histories import ZepChatMessageHistory
from langchain_community.retrievers import ZepRetriever
from langchain_core.messages import AIMessage, HumanMessage
from zep_python import APIError, NotFoundError, ZepClient
from zep_python.exceptions import AuthError
from zep_python.memory import Memory, MemorySearchPayload, Message, Session
from zep_python.user import CreateUserRequest, UpdateUserRequest

BASE_URL, ADMIN, ALICE = sys.argv[1:4]


E = TypeVar("E", bound=Exception)


def raised(kind: type[E], call: Any, *args: Any) -> E:
    """The `kind` error `call(*args)` raises (pytest is not installed here)."""
    try:
        call(*args)
    except kind as error:
        return error
    raise AssertionError(f"{call.__name__}{args} did not raise {kind.__name__}")


async def raised_async(kind: type[E], call: Any, *args: Any) -> E:
    try:
        await call(*args)
    except kind as error:
        return error
    raise AssertionError(f"{call.__name__}{args} did not raise {kind.__name__}")


def answer(error: APIError | AuthError, status: int) -> str:
    """The response text of an SDK error, once its status is `status`."""
    data: dict[str, Any] = error.response_data or {}
    assert data["status_code"] == status, error
    text: str = data["message"]
    return text


def expect_api_error(status: int, call: Any, *args: Any) -> str:
    return answer(raised(APIError, call, *args), status)


def expect_not_found(call: Any, *args: Any) -> None:
    raised(NotFoundError, call, *args)


def contents(memory: Memory) -> list[str]:
    return [message.content for message in memory.messages]


def connect(api_key: str | None = ADMIN) -> ZepClient:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = ZepClient(base_url=BASE_URL, api_key=api_key)
    # The health check passed (it raises otherwise) and found a compatible server version.
    assert not [w for w in caught if "incompatible" in str(w.message)], caught
    return client


def users(zep: ZepClient) -> None:
    added = zep.user.add(
        CreateUserRequest(
            user_id="sdk-user",
            email="sdk@example.com",
            first_name="Sid",
            metadata={"plan": "free", "prefs": {"tea": "green"}},
        )
    )
    assert isinstance(added.uuid, uuid.UUID) and isinstance(added.created_at, datetime)
    assert added.id is None and added.deleted_at is None
    assert zep.user.get("sdk-user") == added
    updated = zep.user.update(
        # No uuid: the SDK cannot send one (httpx's JSON encoding refuses a UUID object).
        UpdateUserRequest(
            user_id="sdk-user",
            last_name="Kay",
            metadata={"prefs": {"milk": False}, "plan": None},
        )
    )
    assert (updated.first_name, updated.last_name) == ("Sid", "Kay")
    assert updated.metadata == {"prefs": {"tea": "green", "milk": False}}
    for index in range(4):
        zep.user.add(CreateUserRequest(user_id=f"sdk-u{index}"))
    zep.user.delete("sdk-u1")
    expect_not_found(zep.user.get, "sdk-u1")
    expected = ["gql-user", "alice", "sdk-user", "sdk-u0", "sdk-u2", "sdk-u3"]
    assert [user.user_id for user in zep.user.list()] == expected
    assert [user.user_id for user in zep.user.list(limit=2, cursor=2)] == expected[2:4]
    chunks = list(zep.user.list_chunked(chunk_size=4))
    assert [[user.user_id for user in chunk] for chunk in chunks] == [expected[:4], expected[4:]]


def sessions(zep: ZepClient) -> None:
    added = zep.memory.add_session(
        Session(session_id="sdk-s0", user_id="sdk-user", metadata={"a": 1, "b": {"c": 2}})
    )
    assert uuid.UUID(added.uuid or "") and added.created_at and added.id is None
    assert zep.memory.get_session("sdk-s0") == added
    merged = zep.memory.update_session(Session(session_id="sdk-s0", metadata={"b": {"d": 3}}))
    assert merged.metadata == {"a": 1, "b": {"c": 2, "d": 3}}
    # A session as read, changed and sent back whole.
    session = zep.memory.get_session("sdk-s0")
    session.metadata = {"a": None}
    assert zep.memory.update_session(session).metadata == {"b": {"c": 2, "d": 3}}
    assert "already exists" in expect_api_error(
        400, zep.memory.add_session, Session(session_id="sdk-s0")
    )
    for index in range(1, 7):
        zep.memory.add_session(Session(session_id=f"sdk-s{index}"))
    assert zep.memory.delete_memory("sdk-s3") == "OK"
    live = ["gql-session", "alice-s", *[f"sdk-s{n}" for n in (0, 1, 2, 4, 5, 6)]]
    chunks = list(zep.memory.list_all_sessions(chunk_size=3))
    assert len(chunks) == 3
    assert [session.session_id for chunk in chunks for session in chunk] == live
    assert [s.session_id for s in zep.memory.list_sessions(limit=2, cursor=1)] == live[1:3]
    assert [s.session_id for s in zep.user.get_sessions("sdk-user")] == ["sdk-s0"]


def memory(zep: ZepClient) -> dict[str, Any]:
    written = zep.memory.add_memory(
        "sdk-s0",
        Memory(
            messages=[
                Message(role="human", content="Hello"),
                Message(role="ai", content="Hi!", metadata={"model": "m1"}),
            ]
        ),
    )
    assert written == "OK"
    read = zep.memory.get_memory("sdk-s0")
    assert contents(read) == ["Hello", "Hi!"] and read.summary is None
    first = read.messages[0]
    assert uuid.UUID(first.uuid or "") and first.token_count == 0 and first.created_at
    assert contents(zep.memory.get_memory("sdk-s0", lastn=1)) == ["Hi!"]
    more = [Message(role="human", content=f"m{index}") for index in range(12)]
    zep.memory.add_memory("sdk-s0", Memory(messages=more))
    window = zep.memory.get_memory("sdk-s0")
    assert contents(window) == [f"m{index}" for index in range(12)]

    # Deleting memory deletes the session; adding again brings it back without the old ones.
    zep.memory.add_memory("sdk-del", Memory(messages=[Message(role="human", content="old")]))
    zep.memory.delete_memory("sdk-del")
    expect_not_found(zep.memory.get_memory, "sdk-del")
    expect_not_found(zep.memory.get_session, "sdk-del")
    zep.memory.add_memory("sdk-del", Memory(messages=[Message(role="ai", content="new")]))
    assert contents(zep.memory.get_memory("sdk-del")) == ["new"]
    assert zep.memory.get_session("sdk-del").session_id == "sdk-del"

    # Search: memql's, by words; the best first, its dist 1.0.
    results = zep.memory.search_memory("sdk-s0", MemorySearchPayload(text="hello HI m3"), limit=2)
    assert (results[0].message or {}).get("content") in ("Hello", "Hi!", "m3")
    assert len(results) == 2 and results[0].dist == 1.0 and 0 < (results[1].dist or 0) <= 1
    every = zep.memory.search_memory("sdk-s0", MemorySearchPayload(text="hello HI m3"))
    assert sorted(str((r.message or {}).get("content")) for r in every) == ["Hello", "Hi!", "m3"]
    assert zep.memory.search_memory("sdk-s0", MemorySearchPayload(text="absent")) == []

    # Messages: pages numbered from 1, one message, its metadata merged.
    page = zep.message.get_session_messages("sdk-s0", limit=2, cursor=2)
    assert [message.content for message in page] == ["m0", "m1"]
    everything = zep.message.get_session_messages("sdk-s0")
    assert len(everything) == 14
    hi = everything[1]
    assert zep.message.get_session_message("sdk-s0", hi.uuid) == hi
    changed = zep.message.update_message_metadata(
        "sdk-s0", hi.uuid, {"metadata": {"rating": 5, "extra": {"a": 1}}}
    )
    assert changed.metadata == {"model": "m1", "rating": 5, "extra": {"a": 1}}
    changed = zep.message.update_message_metadata(
        "sdk-s0", hi.uuid, {"metadata": {"extra": {"b": 2}, "model": None}}
    )
    assert changed.metadata == {"rating": 5, "extra": {"a": 1, "b": 2}}
    # The metadata alone as the body (a common mistake) names the field it should not have.
    assert 'unknown field "rating"' in expect_api_error(
        400, zep.message.update_message_metadata, "sdk-s0", hi.uuid, {"rating": 1}
    )

    # What GraphQL wrote reads the same here.
    gql = zep.memory.get_memory("gql-session")
    assert [(m.role, m.content) for m in gql.messages] == [("human", "question"), ("ai", "answer")]
    assert zep.user.get("gql-user").metadata == {"source": "graphql"}
    return {"metadata_message": hi.uuid}


def failures(zep: ZepClient) -> None:
    expect_not_found(zep.memory.get_session, "nowhere")
    expect_not_found(zep.memory.get_memory, "nowhere")
    expect_not_found(zep.user.get, "nobody")
    expect_not_found(zep.message.get_session_message, "sdk-s0", str(uuid.uuid4()))
    expect_not_found(zep.message.get_session_messages, "nowhere")
    for api_key in ("not-a-token", None):
        answer(raised(AuthError, connect(api_key).memory.get_session, "sdk-s0"), 401)
    alice = connect(ALICE)
    assert alice.memory.get_session("alice-s").session_id == "alice-s"
    expect_api_error(403, alice.memory.get_session, "sdk-s0")
    expect_api_error(403, alice.user.get, "sdk-user")
    expect_api_error(
        403, alice.memory.update_session, Session(session_id="alice-s", metadata={"system": 1})
    )
    mmr = MemorySearchPayload(text="tea", search_type="mmr", mmr_lambda=0.5)
    assert "MMR search" in expect_api_error(501, zep.memory.search_memory, "sdk-s0", mmr)
    summary_search = MemorySearchPayload(text="tea", search_scope="summary")
    assert "summary search" in expect_api_error(
        501, zep.memory.search_memory, "sdk-s0", summary_search
    )
    expect_api_error(403, alice.memory.search_memory, "sdk-s0", MemorySearchPayload(text="m1"))
    assert "document collections" in expect_api_error(501, zep.document.list_collections)
    summary = {"uuid": str(uuid.uuid4()), "content": "short", "recent_message_uuid": "x"}
    assert "summaries" in expect_api_error(
        501, zep.memory.add_memory, "sdk-s0", Memory(messages=[], summary=summary)
    )


async def asynchronous(zep: ZepClient) -> None:
    user = await zep.user.aadd(CreateUserRequest(user_id="sdk-async", metadata={"k": {"a": 1}}))
    assert await zep.user.aget("sdk-async") == user
    updated = await zep.user.aupdate(
        UpdateUserRequest(user_id="sdk-async", email="a@example.com", metadata={"k": {"b": 2}})
    )
    assert updated.email == "a@example.com" and updated.metadata == {"k": {"a": 1, "b": 2}}
    listed = [user.user_id for user in await zep.user.alist(limit=100, cursor=0)]
    assert listed[-1] == "sdk-async"
    chunked = [u.user_id async for chunk in zep.user.alist_chunked(chunk_size=5) for u in chunk]
    assert chunked == listed

    session = await zep.memory.aadd_session(Session(session_id="sdk-as", user_id="sdk-async"))
    assert await zep.memory.aget_session("sdk-as") == session
    merged = await zep.memory.aupdate_session(Session(session_id="sdk-as", metadata={"x": 1}))
    assert merged.metadata == {"x": 1}
    assert [s.session_id for s in await zep.user.aget_sessions("sdk-async")] == ["sdk-as"]
    walked = [
        s.session_id async for chunk in zep.memory.alist_all_sessions(chunk_size=4) for s in chunk
    ]
    assert walked[-1] == "sdk-as" and len(walked) == len(set(walked))
    assert [s.session_id for s in await zep.memory.alist_sessions(limit=1, cursor=0)] == [walked[0]]

    messages = [Message(role="human", content="ping"), Message(role="ai", content="pong")]
    assert await zep.memory.aadd_memory("sdk-as", Memory(messages=messages)) == "OK"
    assert contents(await zep.memory.aget_memory("sdk-as", lastn=1)) == ["pong"]
    listed_messages = await zep.message.aget_session_messages("sdk-as", limit=10, cursor=1)
    assert [message.content for message in listed_messages] == ["ping", "pong"]
    pong = listed_messages[1]
    assert await zep.message.aget_session_message("sdk-as", pong.uuid) == pong
    patched = await zep.message.aupdate_message_metadata(
        "sdk-as", pong.uuid, {"metadata": {"seen": True}}
    )
    assert patched.metadata == {"seen": True}
    assert await zep.memory.adelete_memory("sdk-as") == "OK"
    await zep.memory.aadd_memory("sdk-as", Memory(messages=[Message(role="ai", content="again")]))
    assert contents(await zep.memory.aget_memory("sdk-as")) == ["again"]
    found = await zep.memory.asearch_memory("sdk-as", MemorySearchPayload(text="AGAIN"))
    assert [(r.message or {}).get("content") for r in found] == ["again"]
    assert found[0].dist == 1.0
    await zep.user.adelete("sdk-async")
    await raised_async(NotFoundError, zep.user.aget, "sdk-async")
    await zep.aclose()


def langchain() -> None:
    history = ZepChatMessageHistory(session_id="lc-session", url=BASE_URL, api_key=ADMIN)
    assert history.messages == []
    history.add_user_message("Which tea has the least caffeine?")
    history.add_ai_message("Rooibos: it has none.", metadata={"source": "kb"})
    asyncio.run(history.aadd_messages([HumanMessage("Thanks!"), AIMessage("Enjoy.")]))
    read = history.messages
    assert [(type(m), m.content) for m in read] == [
        (HumanMessage, "Which tea has the least caffeine?"),
        (AIMessage, "Rooibos: it has none."),
        (HumanMessage, "Thanks!"),
        (AIMessage, "Enjoy."),
    ]
    assert read[1].additional_kwargs["metadata"] == {"source": "kb"}
    assert uuid.UUID(read[0].additional_kwargs["uuid"])
    assert history.zep_summary is None
    history.clear()
    assert history.messages == []
    history.add_user_message("Back again.")
    assert [m.content for m in history.messages] == ["Back again."]


def retriever() -> None:
    """LangChain's ZepRetriever, similarity over messages: memql's search behind it."""
    history = ZepChatMessageHistory(session_id="lc-retrieve", url=BASE_URL, api_key=ADMIN)
    history.add_user_message("Which tea has the least caffeine?")
    history.add_ai_message("Rooibos: it has none.", metadata={"source": "kb"})
    history.add_user_message("What about coffee?")
    zep_retriever = ZepRetriever(session_id="lc-retrieve", url=BASE_URL, api_key=ADMIN, top_k=2)
    documents = zep_retriever.invoke("rooibos tea")
    assert [document.page_content for document in documents] == [
        "Rooibos: it has none.",
        "Which tea has the least caffeine?",
    ]
    assert documents[0].metadata["score"] == 1.0
    assert documents[0].metadata["role"] == "ai"
    assert documents[0].metadata["metadata"] == {"source": "kb"}
    found = asyncio.run(zep_retriever.ainvoke("coffee"))
    assert [document.page_content for document in found] == ["What about coffee?"]
    # Alice's token cannot search the admin's session.
    refused = ZepRetriever(session_id="lc-retrieve", url=BASE_URL, api_key=ALICE, top_k=2)
    raised(APIError, refused.invoke, "tea")


def main() -> None:
    zep = connect()
    users(zep)
    sessions(zep)
    found = memory(zep)
    failures(zep)
    asyncio.run(asynchronous(connect()))
    zep.close()
    langchain()
    retriever()
    print(json.dumps(found))


if __name__ == "__main__":
    main()
