"""search_memories in both clients (one page, every page, scoped, refused for another user's
session) and MemqlRetriever's Documents, against the real memql."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from conftest import AUTH_SECRET, app_running, client_test_settings, serving, token
from langchain_core.documents import Document

from memql_client import (
    AsyncMemqlClient,
    BadUserInputError,
    ForbiddenError,
    MemoryInput,
    MemqlClient,
    SearchResult,
)
from memql_client.langchain import MemqlRetriever

URL = "http://memql.test/graphql"
CHAT = [
    MemoryInput("human", "Which tea has the least caffeine?", metadata={"lang": "en"}),
    MemoryInput("ai", "Rooibos: it has none at all."),
    MemoryInput("human", "And a café crème?"),
]


@pytest.fixture
async def secured() -> AsyncIterator[httpx.ASGITransport]:
    """Authentication on: alice owns `tea`, bob owns `bobs`."""
    async with app_running(auth_secret=AUTH_SECRET) as app:
        transport = httpx.ASGITransport(app=app)
        async with AsyncMemqlClient(URL, token=token(), transport=transport) as admin:
            for user, session in (("alice", "tea"), ("bob", "bobs")):
                await admin.add_user(user)
                await admin.add_session(session, user_id=user)
                await admin.add_memory(session, CHAT)
        yield transport


async def test_search_memories_finds_the_best_first_with_scores(
    secured: httpx.ASGITransport,
) -> None:
    async with AsyncMemqlClient(URL, token=token("alice"), transport=secured) as alice:
        page = await alice.search_memories("ROOIBOS tea none", total_count=True)
        assert page.total_count == 2
        assert [result.memory.content for result in page] == [
            "Rooibos: it has none at all.",
            "Which tea has the least caffeine?",
        ]
        assert all(isinstance(result, SearchResult) and result.score > 0 for result in page)
        assert page.nodes[0].score > page.nodes[1].score
        assert {result.memory.session_id for result in page} == {"tea"}
        scoped = await alice.search_memories("cafe", session_id="tea")
        assert [result.memory.content for result in scoped] == ["And a café crème?"]
        by_user = await alice.search_memories("caffeine", user_id="alice", first=1)
        assert len(by_user) == 1 and by_user.page_info.has_next_page is False
        walked = [r.memory.content async for r in alice.iter_search_memories("has", page_size=1)]
        # Equal scores: the newer first.
        assert walked == ["Rooibos: it has none at all.", "Which tea has the least caffeine?"]
        with pytest.raises(ForbiddenError):
            await alice.search_memories("tea", session_id="bobs")
        with pytest.raises(ForbiddenError):
            await alice.search_memories("tea", user_id="bob")
        with pytest.raises(BadUserInputError):
            await alice.search_memories("   ")


def test_the_sync_client_searches_and_pages() -> None:
    app_settings = client_test_settings()
    from app.web.http import create_app

    with serving(create_app(app_settings)) as server, MemqlClient(f"{server.url}/graphql") as c:
        c.add_memory("s", [MemoryInput("human", f"tea number {n}") for n in range(5)])
        first = c.search_memories("tea", first=2)
        rest = c.search_memories("tea", first=10, after=first.page_info.end_cursor)
        seen = [r.memory.uuid for r in first] + [r.memory.uuid for r in rest]
        assert len(seen) == len(set(seen)) == 5
        assert [r.memory.uuid for r in c.iter_search_memories("tea", page_size=2)] == seen
        assert c.search_memories("coffee").nodes == []


@pytest.fixture
def memql_url() -> Iterator[str]:
    from app.web.http import create_app

    with serving(create_app(client_test_settings())) as server:
        url = f"{server.url}/graphql"
        with MemqlClient(url) as client:
            client.add_memory("tea", CHAT)
            client.add_memory("other", [MemoryInput("human", "rooibos elsewhere")])
        yield url


def test_the_retriever_returns_documents_with_the_memorys_metadata(memql_url: str) -> None:
    with MemqlClient(memql_url) as client:
        retriever = MemqlRetriever(client=client, session_id="tea", k=2)
        documents = retriever.invoke("rooibos tea none")
    assert [document.page_content for document in documents] == [
        "Rooibos: it has none at all.",
        "Which tea has the least caffeine?",
    ]
    best, second = documents
    assert isinstance(best, Document)
    assert set(best.metadata) == {"session_id", "uuid", "role", "score"}
    assert best.metadata["session_id"] == "tea" and best.metadata["role"] == "ai"
    assert best.metadata["score"] > second.metadata["score"] > 0
    assert second.metadata["lang"] == "en"
    assert best.id == best.metadata["uuid"]
    everywhere = MemqlRetriever(url=memql_url, k=10).invoke("rooibos")
    assert sorted(d.metadata["session_id"] for d in everywhere) == ["other", "tea"]


async def test_the_retriever_under_asyncio(memql_url: str) -> None:
    retriever = MemqlRetriever(url=memql_url, session_id="tea", k=1)
    documents = await retriever.ainvoke("café")
    assert [document.page_content for document in documents] == ["And a café crème?"]


def test_a_retriever_asks_for_a_page_memql_serves() -> None:
    with pytest.raises(ValueError, match="k must be from 1 to 100"):
        MemqlRetriever(url=URL, k=0)
    with pytest.raises(ValueError, match="not both"):
        MemqlRetriever(url=URL, client=MemqlClient(URL))
