"""memql_client.langchain against a live memql (uvicorn on 127.0.0.1): LangChain messages read
back equal to those written, MemqlChatMessageHistory behaves as InMemoryChatMessageHistory
(alone and under RunnableWithMessageHistory), and create_agent agents keep their sessions
apart and store each message once with MemqlMiddleware."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
import pytest_asyncio

pytest.importorskip("langchain", reason="needs LangChain, the extra memql-client[langchain]")

from app.web.http import create_app
from conftest import client_test_settings, serving
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain_core._api import LangChainDeprecationWarning
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import Field

from memql_client import (
    AsyncMemqlClient,
    BadUserInputError,
    MemoryInput,
    MemqlClient,
    RoleType,
)
from memql_client.langchain import (
    MemqlChatMessageHistory,
    MemqlMiddleware,
    memory_to_message,
    message_to_memory,
)

# A few dozen examples each keep the file at a few seconds against a live memql.
ROUND_TRIPS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCENARIOS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# InMemoryChatMessageHistory is the oracle here; langchain-core deprecates it, as it does the
# interface MemqlChatMessageHistory implements for RunnableWithMessageHistory apps.
ORACLE_IS_DEPRECATED = pytest.mark.filterwarnings(
    "ignore:The class `InMemoryChatMessageHistory`:DeprecationWarning"
)


@pytest.fixture(scope="module")
def memql_url() -> Iterator[str]:
    with serving(create_app(client_test_settings())) as server:
        yield f"{server.url}/graphql"


@pytest.fixture(scope="module")
def memql(memql_url: str) -> Iterator[MemqlClient]:
    with MemqlClient(memql_url) as client:
        yield client


# The async tests share one event loop, so one AsyncMemqlClient serves them all.
IN_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def async_memql(memql_url: str) -> AsyncIterator[AsyncMemqlClient]:
    async with AsyncMemqlClient(memql_url) as client:
        yield client


def new_session_id() -> str:
    return f"lc-{uuid.uuid4().hex[:12]}"


def stored_messages(memql: MemqlClient, session_id: str) -> list[BaseMessage]:
    return [memory_to_message(memory) for memory in memql.iter_memories(session_id)]


def texts(messages: Sequence[BaseMessage]) -> list[str]:
    return [str(message.text) for message in messages]


# ------------------------------------------------------------------ messages of every type

# Keys memql cannot store as they are, and keys that look like their escapes.
awkward_keys = st.sampled_from(
    ["", ".", "a.b", "$", "$ref", "x$", "\x00", "%", "%25", "%2E", "%null", "system"]
)
keys = awkward_keys | st.text(max_size=6)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(keys, json_values, max_size=3)
ids = st.none() | st.uuids().map(str) | st.text(min_size=1, max_size=8)
names = st.none() | st.text(min_size=1, max_size=8)

content_blocks = st.one_of(
    st.text(max_size=8),
    st.builds(lambda text: {"type": "text", "text": text}, st.text(max_size=12)),
    st.builds(
        lambda data: {"type": "image", "base64": data, "mime_type": "image/png"},
        st.binary(max_size=24).map(lambda raw: base64.b64encode(raw).decode()),
    ),
    st.just({"type": "image_url", "image_url": {"url": "https://example.com/tea.png"}}),
    json_objects,
)
contents = st.text(max_size=20) | st.lists(content_blocks, max_size=3)

tool_calls = st.builds(
    lambda name, args, id: {"name": name, "args": args, "id": id, "type": "tool_call"},
    st.text(min_size=1, max_size=8),
    json_objects,
    ids,
)
invalid_tool_calls = st.builds(
    lambda name, args, id, error: {
        "name": name,
        "args": args,
        "id": id,
        "error": error,
        "type": "invalid_tool_call",
    },
    names,
    st.none() | st.text(max_size=8),
    ids,
    names,
)
token_counts = st.integers(min_value=0, max_value=10**6)
usage = st.builds(
    lambda given, made, cached: {
        "input_tokens": given,
        "output_tokens": made,
        "total_tokens": given + made,
        "input_token_details": {"cache_read": cached},
    },
    token_counts,
    token_counts,
    token_counts,
)


def common_fields() -> dict[str, Any]:
    return {
        "content": contents,
        "id": ids,
        "name": names,
        "additional_kwargs": json_objects,
        "response_metadata": json_objects,
    }


messages = st.one_of(
    st.builds(HumanMessage, **common_fields()),
    st.builds(SystemMessage, **common_fields()),
    st.builds(
        AIMessage,
        **common_fields(),
        tool_calls=st.lists(tool_calls, max_size=2),
        invalid_tool_calls=st.lists(invalid_tool_calls, max_size=1),
        usage_metadata=st.none() | usage,
    ),
    st.builds(
        ToolMessage,
        **common_fields(),
        tool_call_id=st.text(min_size=1, max_size=8),
        artifact=json_values,
        status=st.sampled_from(["success", "error"]),
    ),
    st.builds(FunctionMessage, **{**common_fields(), "name": st.text(min_size=1, max_size=8)}),
    st.builds(ChatMessage, **common_fields(), role=st.text(min_size=1, max_size=8)),
)
message_lists = st.lists(messages, min_size=1, max_size=5)


@ROUND_TRIPS
@given(written=message_lists)
def test_messages_of_every_type_read_back_equal_to_those_written(
    memql: MemqlClient, written: list[BaseMessage]
) -> None:
    session_id = new_session_id()
    memql.add_memory(session_id, [message_to_memory(message) for message in written])
    assert stored_messages(memql, session_id) == written


def test_a_message_is_stored_as_its_text_and_type_with_escaped_fields(
    memql: MemqlClient,
) -> None:
    message = AIMessage(
        [{"type": "text", "text": "Rooibos"}, {"type": "image", "url": "https://x.test/a.png"}],
        tool_calls=[{"name": "brew", "args": {"temp.c": 95}, "id": "call-1"}],
        response_metadata={"$schema": "v1", "": None, "model.name": "fake"},
    )
    session_id = new_session_id()
    [memory] = memql.add_memory(session_id, [message_to_memory(message)])
    assert (memory.role, memory.role_type, memory.content) == ("ai", RoleType.ASSISTANT, "Rooibos")
    assert memory.metadata == {
        "langchain": {
            "content": message.content,
            "tool_calls": [
                {"name": "brew", "args": {"temp%2Ec": 95}, "id": "call-1", "type": "tool_call"}
            ],
            "response_metadata": {"%24schema": "v1", "%": {"%null": True}, "model%2Ename": "fake"},
        }
    }
    assert memory_to_message(memory) == message


def test_memories_of_other_clients_read_back_as_their_role_type_says(
    memql: MemqlClient,
) -> None:
    session_id = new_session_id()
    memories = memql.add_memory(
        session_id,
        [
            MemoryInput("user", "Any tea without caffeine?", RoleType.USER),
            MemoryInput("assistant", "Rooibos.", RoleType.ASSISTANT),
            MemoryInput("system", "Be brief.", RoleType.SYSTEM),
            MemoryInput("tool", "95 °C", RoleType.TOOL),
            MemoryInput("brew_time", "5 minutes", RoleType.FUNCTION),
            MemoryInput("narrator", "Later that day…", RoleType.NOROLE),
            MemoryInput("human", "Thanks!"),
        ],
    )
    uuids = [memory.uuid for memory in memories]
    assert stored_messages(memql, session_id) == [
        HumanMessage("Any tea without caffeine?", id=uuids[0]),
        AIMessage("Rooibos.", id=uuids[1]),
        SystemMessage("Be brief.", id=uuids[2]),
        ToolMessage("95 °C", tool_call_id="", id=uuids[3]),
        FunctionMessage(content="5 minutes", name="brew_time", id=uuids[4]),
        ChatMessage(content="Later that day…", role="narrator", id=uuids[5]),
        HumanMessage("Thanks!", id=uuids[6]),
    ]


def test_extras_over_64_kib_are_refused_and_nothing_is_stored(memql: MemqlClient) -> None:
    session_id = new_session_id()
    photo = AIMessage("Here is the photo.", response_metadata={"image": "A" * 70_000})
    memories = [message_to_memory(HumanMessage("Show me the teapot.")), message_to_memory(photo)]
    with pytest.raises(BadUserInputError, match="64 KiB") as refused:
        memql.add_memory(session_id, memories)
    assert refused.value.field == "input.memories[1].metadata"
    assert memql.get_session(session_id) is None


def test_values_that_are_not_json_are_refused_before_they_reach_memql() -> None:
    sent = datetime(2026, 11, 24, tzinfo=timezone.utc)
    with pytest.raises(TypeError, match=r"additional_kwargs.*'sent'.*not JSON"):
        message_to_memory(HumanMessage("hi", additional_kwargs={"sent": sent}))
    with pytest.raises(TypeError, match="not JSON"):
        message_to_memory(ToolMessage("done", tool_call_id="c", artifact=(1, 2)))


# ------------------------------------------------------------------ MemqlChatMessageHistory

operations = st.lists(st.none() | st.lists(messages, max_size=3), min_size=1, max_size=4)
"""Each step clears the history (None) or adds a batch of messages."""


@ORACLE_IS_DEPRECATED
@SCENARIOS
@given(steps=operations, history_size=st.none() | st.integers(min_value=1, max_value=4))
def test_history_behaves_as_in_memory_history(
    memql: MemqlClient, steps: list[list[BaseMessage] | None], history_size: int | None
) -> None:
    oracle = InMemoryChatMessageHistory()
    history = MemqlChatMessageHistory(new_session_id(), client=memql, history_size=history_size)
    for step in steps:
        if step is None:
            oracle.clear()
            history.clear()
        else:
            oracle.add_messages(step)
            history.add_messages(step)
        expected = oracle.messages[-history_size:] if history_size else oracle.messages
        assert history.messages == expected


@IN_MODULE_LOOP
@ORACLE_IS_DEPRECATED
@SCENARIOS
@given(steps=operations, history_size=st.none() | st.integers(min_value=1, max_value=4))
async def test_async_history_behaves_as_in_memory_history(
    async_memql: AsyncMemqlClient,
    steps: list[list[BaseMessage] | None],
    history_size: int | None,
) -> None:
    oracle = InMemoryChatMessageHistory()
    history = MemqlChatMessageHistory(
        new_session_id(), async_client=async_memql, history_size=history_size
    )
    for step in steps:
        if step is None:
            await oracle.aclear()
            await history.aclear()
        else:
            await oracle.aadd_messages(step)
            await history.aadd_messages(step)
        expected = await oracle.aget_messages()
        expected = expected[-history_size:] if history_size else expected
        assert await history.aget_messages() == expected


class RecordedRequests:
    """The names of the GraphQL operations a client sent."""

    def __init__(self) -> None:
        self.operations: list[str] = []

    def record(self, request: httpx.Request) -> None:
        document = json.loads(request.content)["query"]
        self.operations.append(document.split("(")[0].split()[1])

    async def arecord(self, request: httpx.Request) -> None:
        self.record(request)


def test_add_messages_is_one_add_memory_call_and_clear_keeps_the_session(
    memql_url: str, memql: MemqlClient
) -> None:
    requests = RecordedRequests()
    session_id = new_session_id()
    with httpx.Client(event_hooks={"request": [requests.record]}) as http:
        history = MemqlChatMessageHistory(session_id, client=MemqlClient(memql_url, http=http))
        history.add_messages([HumanMessage("Hi"), AIMessage("Hello"), HumanMessage("Tea?")])
        assert requests.operations == ["AddMemory"]
        history.clear()
        assert requests.operations == ["AddMemory", "DeleteMemories"]
        assert history.messages == []
        session = memql.get_session(session_id)
        assert session is not None
        history.add_messages([HumanMessage("Still there?")])
        assert texts(history.messages) == ["Still there?"]
    again = memql.get_session(session_id)
    assert again is not None and again.id == session.id


@IN_MODULE_LOOP
async def test_aadd_messages_is_one_add_memory_call_and_aclear_keeps_the_session(
    memql_url: str,
) -> None:
    requests = RecordedRequests()
    session_id = new_session_id()
    async with httpx.AsyncClient(event_hooks={"request": [requests.arecord]}) as http:
        client = AsyncMemqlClient(memql_url, http=http)
        history = MemqlChatMessageHistory(session_id, async_client=client)
        await history.aadd_messages([HumanMessage("Hi"), AIMessage("Hello")])
        assert requests.operations == ["AddMemory"]
        await history.aclear()
        assert requests.operations == ["AddMemory", "DeleteMemories"]
        assert await history.aget_messages() == []
        assert await client.get_session(session_id) is not None


def test_clearing_a_session_memql_does_not_have_changes_nothing(memql: MemqlClient) -> None:
    history = MemqlChatMessageHistory(new_session_id(), client=memql)
    history.clear()
    assert history.messages == []


def test_a_history_takes_clients_or_a_url_not_both(memql: MemqlClient) -> None:
    with pytest.raises(ValueError, match="not both"):
        MemqlChatMessageHistory("chat-1", client=memql, url="http://127.0.0.1:8000/graphql")


def test_a_history_given_only_an_async_client_says_so_when_called_without_asyncio() -> None:
    client = AsyncMemqlClient("http://memql.invalid/graphql")
    history = MemqlChatMessageHistory(new_session_id(), async_client=client)
    with pytest.raises(TypeError, match="only an AsyncMemqlClient"):
        history.add_messages([HumanMessage("hi")])


class RecordingFakeChatModel(GenericFakeChatModel):
    """langchain-core's fake chat model, remembering what it was asked; tools bind as no-ops."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.seen.append(list(messages))
        return super()._generate(messages, *args, **kwargs)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> RecordingFakeChatModel:
        return self


def test_history_under_runnable_with_message_history(memql: MemqlClient) -> None:
    model = RecordingFakeChatModel(messages=iter(["Rooibos.", "None at all."]))
    with pytest.warns(LangChainDeprecationWarning, match="RunnableWithMessageHistory"):
        chat = RunnableWithMessageHistory(
            model, lambda session_id: MemqlChatMessageHistory(session_id, client=memql)
        )
    session_id = new_session_id()
    config: Any = {"configurable": {"session_id": session_id}}
    chat.invoke("Which tea has no caffeine?", config)
    answer = chat.invoke("How much caffeine, then?", config)
    assert texts(model.seen[1]) == [
        "Which tea has no caffeine?",
        "Rooibos.",
        "How much caffeine, then?",
    ]
    assert stored_messages(memql, session_id) == [*model.seen[1], answer]


@IN_MODULE_LOOP
async def test_history_under_runnable_with_message_history_async(
    async_memql: AsyncMemqlClient, memql: MemqlClient
) -> None:
    model = RecordingFakeChatModel(messages=iter(["Rooibos.", "None at all."]))
    with pytest.warns(LangChainDeprecationWarning, match="RunnableWithMessageHistory"):
        chat = RunnableWithMessageHistory(
            model,
            lambda session_id: MemqlChatMessageHistory(session_id, async_client=async_memql),
        )
    session_id = new_session_id()
    config: Any = {"configurable": {"session_id": session_id}}
    await chat.ainvoke("Which tea has no caffeine?", config)
    answer = await chat.ainvoke("How much caffeine, then?", config)
    assert texts(model.seen[1]) == [
        "Which tea has no caffeine?",
        "Rooibos.",
        "How much caffeine, then?",
    ]
    assert stored_messages(memql, session_id) == [*model.seen[1], answer]


# ------------------------------------------------------------------ MemqlMiddleware


@tool
def water_temperature(tea: str) -> str:
    """The water temperature for brewing a tea."""
    return f"{tea}: 95 °C"


def answers_for(session_ids: Sequence[str]) -> list[AIMessage]:
    """What the fake model says in turn order: in turn 2 each session calls the tool first."""
    answers: list[AIMessage] = []
    for turn in (1, 2, 3):
        for session_id in session_ids:
            if turn == 2:
                call = {"name": "water_temperature", "args": {"tea": "rooibos"}, "id": session_id}
                answers.append(AIMessage("", tool_calls=[call]))
            answers.append(AIMessage(f"{session_id} answer {turn}"))
    return answers


def turns(session_ids: Sequence[str]) -> list[tuple[str, str]]:
    """Three turns of each session, interleaved."""
    return [
        (session_id, f"{session_id} question {turn}")
        for turn in (1, 2, 3)
        for session_id in session_ids
    ]


def session_run(session_id: str, checkpointed: bool) -> Any:
    """With a checkpointer, the session is the thread; without one, the run's context says it."""
    if checkpointed:
        return {"config": {"configurable": {"thread_id": session_id}}}
    return {"context": {"session_id": session_id}}


def assert_one_conversation(messages: Sequence[BaseMessage], session_id: str) -> None:
    assert [message.type for message in messages] == [
        *("human", "ai"),
        *("human", "ai", "tool", "ai"),
        *("human", "ai"),
    ]
    assert [text for text in texts(messages) if text] == [
        f"{session_id} question 1",
        f"{session_id} answer 1",
        f"{session_id} question 2",
        "rooibos: 95 °C",
        f"{session_id} answer 2",
        f"{session_id} question 3",
        f"{session_id} answer 3",
    ]
    assert len({message.id for message in messages}) == len(messages)


CHECKPOINTED = pytest.mark.parametrize(
    "checkpointed", [False, True], ids=["no-checkpointer", "checkpointer"]
)


@CHECKPOINTED
def test_agent_keeps_two_sessions_apart_and_stores_each_message_once(
    memql: MemqlClient, checkpointed: bool
) -> None:
    session_ids = [new_session_id(), new_session_id()]
    model = RecordingFakeChatModel(messages=iter(answers_for(session_ids)))
    agent = create_agent(
        model,
        tools=[water_temperature],
        middleware=[MemqlMiddleware(client=memql)],
        checkpointer=InMemorySaver() if checkpointed else None,
    )
    final: dict[str, list[AnyMessage]] = {}
    for session_id, question in turns(session_ids):
        state = agent.invoke(
            {"messages": [HumanMessage(question)]}, **session_run(session_id, checkpointed)
        )
        final[session_id] = state["messages"]
    for session_id in session_ids:
        stored = stored_messages(memql, session_id)
        assert_one_conversation(stored, session_id)
        assert stored == final[session_id]
    # The model's last call in each session saw that session's whole conversation, and only it.
    assert model.seen[-2] == final[session_ids[0]][:-1]
    assert model.seen[-1] == final[session_ids[1]][:-1]


@IN_MODULE_LOOP
@CHECKPOINTED
async def test_async_agent_keeps_two_sessions_apart_and_stores_each_message_once(
    async_memql: AsyncMemqlClient, memql: MemqlClient, checkpointed: bool
) -> None:
    session_ids = [new_session_id(), new_session_id()]
    model = RecordingFakeChatModel(messages=iter(answers_for(session_ids)))
    # Only an async client: a hook that reached memql any other way would fail.
    agent = create_agent(
        model,
        tools=[water_temperature],
        middleware=[MemqlMiddleware(async_client=async_memql)],
        checkpointer=InMemorySaver() if checkpointed else None,
    )
    final: dict[str, list[AnyMessage]] = {}
    for session_id, question in turns(session_ids):
        state = await agent.ainvoke(
            {"messages": [HumanMessage(question)]}, **session_run(session_id, checkpointed)
        )
        final[session_id] = state["messages"]
    for session_id in session_ids:
        stored = stored_messages(memql, session_id)
        assert_one_conversation(stored, session_id)
        assert stored == final[session_id]
    assert model.seen[-2] == final[session_ids[0]][:-1]
    assert model.seen[-1] == final[session_ids[1]][:-1]


@CHECKPOINTED
def test_a_fresh_agent_continues_a_session_from_memql_alone(
    memql_url: str, checkpointed: bool
) -> None:
    session_id = new_session_id()
    for turn in (1, 2):
        # Nothing is shared between the two agents but memql: not a client, not a checkpointer.
        with MemqlClient(memql_url) as client:
            model = RecordingFakeChatModel(messages=iter([f"answer {turn}"]))
            agent = create_agent(
                model,
                middleware=[MemqlMiddleware(client=client)],
                checkpointer=InMemorySaver() if checkpointed else None,
            )
            agent.invoke(
                {"messages": [HumanMessage(f"question {turn}")]},
                **session_run(session_id, checkpointed),
            )
    assert texts(model.seen[0]) == ["question 1", "answer 1", "question 2"]


def test_history_size_limits_what_the_agent_loads(memql: MemqlClient) -> None:
    session_id = new_session_id()
    earlier = [HumanMessage("q1"), AIMessage("a1"), HumanMessage("q2"), AIMessage("a2")]
    MemqlChatMessageHistory(session_id, client=memql).add_messages(earlier)
    model = RecordingFakeChatModel(messages=iter(["a3"]))
    middleware = MemqlMiddleware(session_id, client=memql, history_size=2)
    create_agent(model, middleware=[middleware]).invoke({"messages": [HumanMessage("q3")]})
    assert texts(model.seen[0]) == ["q2", "a2", "q3"]
    assert texts(stored_messages(memql, session_id)) == ["q1", "a1", "q2", "a2", "q3", "a3"]


def test_an_agent_without_a_session_says_how_to_give_it_one(memql: MemqlClient) -> None:
    model = RecordingFakeChatModel(messages=iter(["never"]))
    agent = create_agent(model, middleware=[MemqlMiddleware(client=memql)])
    with pytest.raises(ValueError, match="thread_id"):
        agent.invoke({"messages": [HumanMessage("hi")]})
    assert model.seen == []
