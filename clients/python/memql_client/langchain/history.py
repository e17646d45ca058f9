"""MemqlChatMessageHistory: LangChain's chat message history interface over a memql session,
for apps on RunnableWithMessageHistory."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage

from memql_client.client import AsyncMemqlClient, MemqlClient
from memql_client.errors import NotFoundError
from memql_client.langchain.connection import (
    MemqlConnection,
    aread_memories,
    check_history_size,
    read_memories,
)
from memql_client.langchain.messages import memory_to_message, message_to_memory


class MemqlChatMessageHistory(BaseChatMessageHistory):
    """The messages of the memql session `session_id` (its last `history_size`, or all).

    For apps built on `RunnableWithMessageHistory`, which langchain-core deprecates (since
    1.3.3, as BaseChatMessageHistory since 1.6.4; removal in 2.0) in favour of agents with
    persistence: new apps use MemqlMiddleware with `create_agent`.

    `add_messages` is one addMemory call, which creates the session if needed; `clear`
    deletes the session's memories and keeps the session. The `a`-prefixed twins go through
    `async_client`, the others through `client`, or both through clients of its own for `url`
    and `token`.
    """

    def __init__(
        self,
        session_id: str,
        *,
        client: MemqlClient | None = None,
        async_client: AsyncMemqlClient | None = None,
        url: str | None = None,
        token: str | None = None,
        history_size: int | None = None,
    ) -> None:
        super().__init__()
        check_history_size(history_size)
        self.session_id = session_id
        self.history_size = history_size
        self.memql = MemqlConnection(
            "MemqlChatMessageHistory",
            client=client,
            async_client=async_client,
            url=url,
            token=token,
        )

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        memories = read_memories(self.memql.blocking(), self.session_id, self.history_size)
        return [memory_to_message(memory) for memory in memories]

    async def aget_messages(self) -> list[BaseMessage]:
        async with self.memql.asynchronous() as client:
            memories = await aread_memories(client, self.session_id, self.history_size)
        return [memory_to_message(memory) for memory in memories]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        memories = [message_to_memory(message) for message in messages]
        if memories:
            self.memql.blocking().add_memory(self.session_id, memories)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        memories = [message_to_memory(message) for message in messages]
        if memories:
            async with self.memql.asynchronous() as client:
                await client.add_memory(self.session_id, memories)

    def clear(self) -> None:
        with contextlib.suppress(NotFoundError):
            self.memql.blocking().delete_memories(self.session_id)

    async def aclear(self) -> None:
        async with self.memql.asynchronous() as client:
            with contextlib.suppress(NotFoundError):
                await client.delete_memories(self.session_id)
