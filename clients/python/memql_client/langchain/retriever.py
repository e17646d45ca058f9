"""MemqlRetriever: LangChain's retriever interface over memql's memory search, for RAG over past
conversations."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

from memql_client.client import AsyncMemqlClient, MemqlClient
from memql_client.langchain.connection import MemqlConnection
from memql_client.models import SearchResult


def result_to_document(result: SearchResult) -> Document:
    """A search result as a Document: the memory's content, and its metadata with the session,
    uuid, role and score (these win over metadata keys of the same names)."""
    memory = result.memory
    return Document(
        page_content=memory.content,
        metadata={
            **memory.metadata,
            "session_id": memory.session_id,
            "uuid": memory.uuid,
            "role": memory.role,
            "score": result.score,
        },
        id=memory.uuid,
    )


class MemqlRetriever(BaseRetriever):
    """The `k` memories best matching a query's words (memql's searchMemories): in the
    session `session_id`, in the sessions of `user_id`, or without either in every session
    the token may see.

    Blocking calls go through `client`, asyncio ones through `async_client`, or both through
    clients of its own for `url` and `token`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    session_id: str | None = None
    user_id: str | None = None
    k: int = 4
    client: MemqlClient | None = None
    async_client: AsyncMemqlClient | None = None
    url: str | None = None
    token: str | None = None
    _memql: MemqlConnection = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        if not 1 <= self.k <= 100:
            raise ValueError(f"k must be from 1 to 100 (memql's largest page), not {self.k}")
        self._memql = MemqlConnection(
            "MemqlRetriever",
            client=self.client,
            async_client=self.async_client,
            url=self.url,
            token=self.token,
        )

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        page = self._memql.blocking().search_memories(
            query, self.session_id, self.user_id, first=self.k
        )
        return [result_to_document(result) for result in page]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        async with self._memql.asynchronous() as client:
            page = await client.search_memories(query, self.session_id, self.user_id, first=self.k)
        return [result_to_document(result) for result in page]
