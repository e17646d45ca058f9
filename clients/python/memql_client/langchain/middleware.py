"""MemqlMiddleware: a `create_agent` agent keeps each conversation in a memql session."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final

from langchain.agents.middleware import AgentMiddleware, AgentState
from langchain.agents.middleware.types import PrivateStateAttr
from langchain_core.messages import AnyMessage, BaseMessage, RemoveMessage
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.runtime import Runtime
from typing_extensions import NotRequired

from memql_client.client import AsyncMemqlClient, MemqlClient
from memql_client.langchain.connection import (
    MemqlConnection,
    aread_memories,
    check_history_size,
    read_memories,
)
from memql_client.langchain.messages import memory_to_message, message_to_memory
from memql_client.models import Memory

STORED_IDS: Final = "memql_stored_ids"


class MemqlState(AgentState[Any]):
    """The agent's state, plus the ids of the thread's messages that memql holds.

    `memql_stored_ids` is set when a thread first runs (from the session's history) and grows
    as each run stores its messages; a checkpointer keeps it with the thread, so its later
    runs neither load the history again nor store a message twice.
    """

    memql_stored_ids: NotRequired[Annotated[list[str], PrivateStateAttr]]


class MemqlMiddleware(AgentMiddleware[MemqlState, Any]):
    """Keeps a `create_agent` agent's conversations in memql sessions.

    Before the agent runs, the session's stored messages (its last `history_size` ones, or
    all) go ahead of the new input; after it runs, the messages this run added are stored in
    one addMemory call. With a checkpointer, a thread loads the session once, on its first
    run, and then holds it. The session is `session_id`, else the `session_id` of the run's
    context (a mapping or an object with that attribute), else the run's thread id.

    memql is reached through `client` when the agent runs with `invoke`/`stream` and through
    `async_client` with `ainvoke`/`astream`, or through clients of its own for `url` and
    `token`.
    """

    state_schema = MemqlState

    def __init__(
        self,
        session_id: str | None = None,
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
            "MemqlMiddleware", client=client, async_client=async_client, url=url, token=token
        )

    def before_agent(self, state: MemqlState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        if STORED_IDS in state:
            return None
        session_id = self.session_of(runtime)
        memories = read_memories(self.memql.blocking(), session_id, self.history_size)
        return history_ahead_of(memories, state["messages"])

    async def abefore_agent(
        self, state: MemqlState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        if STORED_IDS in state:
            return None
        session_id = self.session_of(runtime)
        async with self.memql.asynchronous() as client:
            memories = await aread_memories(client, session_id, self.history_size)
        return history_ahead_of(memories, state["messages"])

    def after_agent(self, state: MemqlState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        added = unstored_messages(state)
        if not added:
            return None
        memories = [message_to_memory(message) for message in added]
        self.memql.blocking().add_memory(self.session_of(runtime), memories)
        return stored(state, added)

    async def aafter_agent(self, state: MemqlState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        added = unstored_messages(state)
        if not added:
            return None
        memories = [message_to_memory(message) for message in added]
        async with self.memql.asynchronous() as client:
            await client.add_memory(self.session_of(runtime), memories)
        return stored(state, added)

    def session_of(self, runtime: Runtime[Any]) -> str:
        if self.session_id is not None:
            return self.session_id
        context = runtime.context
        if isinstance(context, Mapping):
            from_context = context.get("session_id")
        else:
            from_context = getattr(context, "session_id", None)
        if isinstance(from_context, str) and from_context:
            return from_context
        info = runtime.execution_info
        if info is not None and info.thread_id is not None:
            return str(info.thread_id)
        raise ValueError(
            "MemqlMiddleware does not know the session: pass MemqlMiddleware(session_id=...), "
            "or run the agent with context={'session_id': ...} (or a context object with a "
            "session_id attribute) or with config={'configurable': {'thread_id': ...}}"
        )


def history_ahead_of(memories: list[Memory], current: Sequence[AnyMessage]) -> dict[str, Any]:
    """The state update that puts the stored messages ahead of the run's input.

    A stored message without an id gets its memory's uuid, so the run can tell it is stored;
    input that repeats a stored message (by id) is not added twice.
    """
    history: list[BaseMessage] = []
    ids: list[str] = []
    for memory in memories:
        message = memory_to_message(memory)
        if message.id is None:
            message.id = memory.uuid
        history.append(message)
        ids.append(message.id)
    if not history:
        return {STORED_IDS: []}
    known = set(ids)
    new_input = [message for message in current if message.id not in known]
    return {
        "messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), *history, *new_input],
        STORED_IDS: ids,
    }


def unstored_messages(state: MemqlState) -> list[AnyMessage]:
    stored_ids = set(state.get(STORED_IDS, ()))
    return [message for message in state["messages"] if message.id not in stored_ids]


def stored(state: MemqlState, added: Sequence[BaseMessage]) -> dict[str, Any]:
    new_ids = [message.id for message in added if message.id is not None]
    return {STORED_IDS: [*state.get(STORED_IDS, ()), *new_ids]}
