"""How memql_client.langchain reaches memql (the clients it was given, or its own for a URL)
and reads a session's latest memories."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from memql_client.client import DEFAULT_URL, AsyncMemqlClient, MemqlClient
from memql_client.errors import NotFoundError
from memql_client.models import Memory

PAGE_SIZE = 100


class MemqlConnection:
    """The memql of one LangChain object, named `owner` in errors.

    Blocking calls go through `client`, asyncio ones through `async_client`. Without either,
    both are made for `url` (memql's default when None) and `token`: one blocking client,
    kept, and an AsyncMemqlClient for each asyncio call, since an httpx.AsyncClient's
    connections belong to the event loop that opened them.
    """

    def __init__(
        self,
        owner: str,
        *,
        client: MemqlClient | None,
        async_client: AsyncMemqlClient | None,
        url: str | None,
        token: str | None,
    ) -> None:
        given_clients = client is not None or async_client is not None
        if given_clients and (url is not None or token is not None):
            raise ValueError(
                f"{owner} takes client/async_client or url/token, not both: a client "
                "already knows its URL and token"
            )
        self.owner = owner
        self.client = client
        self.async_client = async_client
        self.url = None if given_clients else url or DEFAULT_URL
        self.token = token

    def blocking(self) -> MemqlClient:
        if self.client is None:
            if self.url is None:
                raise TypeError(
                    f"{self.owner} was given only an AsyncMemqlClient, so it runs only under "
                    "asyncio (ainvoke, astream, aget_messages, aadd_messages, aclear); pass "
                    "client= as well to call it without asyncio"
                )
            self.client = MemqlClient(self.url, token=self.token)
        return self.client

    @asynccontextmanager
    async def asynchronous(self) -> AsyncIterator[AsyncMemqlClient]:
        if self.async_client is not None:
            yield self.async_client
        elif self.url is None:
            raise TypeError(
                f"{self.owner} was given only a blocking MemqlClient; pass async_client= as "
                "well to call it under asyncio (ainvoke, astream, aget_messages, ...)"
            )
        else:
            async with AsyncMemqlClient(self.url, token=self.token) as client:
                yield client


def check_history_size(history_size: int | None) -> None:
    if history_size is not None and history_size < 1:
        raise ValueError(
            f"history_size must be at least 1 (or None for the whole session), not {history_size}"
        )


def read_memories(client: MemqlClient, session_id: str, last: int | None) -> list[Memory]:
    """The session's memories in order, only its `last` ones when given; none when memql has
    no such session."""
    try:
        if last is None:
            return list(client.iter_memories(session_id, page_size=PAGE_SIZE))
        newest = client.iter_memories(session_id, page_size=min(last, PAGE_SIZE), newest_first=True)
        return list(itertools.islice(newest, last))[::-1]
    except NotFoundError:
        return []


async def aread_memories(
    client: AsyncMemqlClient, session_id: str, last: int | None
) -> list[Memory]:
    """read_memories under asyncio."""
    memories: list[Memory] = []
    page_size = PAGE_SIZE if last is None else min(last, PAGE_SIZE)
    try:
        walk = client.iter_memories(session_id, page_size=page_size, newest_first=last is not None)
        async for memory in walk:
            memories.append(memory)
            if len(memories) == last:
                break
    except NotFoundError:
        return []
    return memories if last is None else memories[::-1]
