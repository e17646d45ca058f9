"""LangChain conversations kept in memql: MemqlMiddleware for `create_agent` agents and
MemqlChatMessageHistory for RunnableWithMessageHistory apps, on one lossless mapping of
messages to memories (memql_client.langchain.messages says how); MemqlRetriever finds past
messages by their words. Needs the extra
`memql-client[langchain]`."""

from __future__ import annotations

try:
    import langchain.agents  # noqa: F401
    import langchain_core.messages  # noqa: F401
    import langgraph.graph  # noqa: F401
except ImportError as error:
    raise ImportError(
        "memql_client.langchain needs LangChain, which memql-client installs with its "
        "langchain extra: pip install 'memql-client[langchain]'",
        name=error.name,
    ) from error

from memql_client.langchain.history import MemqlChatMessageHistory
from memql_client.langchain.messages import memory_to_message, message_to_memory
from memql_client.langchain.middleware import MemqlMiddleware, MemqlState
from memql_client.langchain.retriever import MemqlRetriever

__all__ = [
    "MemqlChatMessageHistory",
    "MemqlMiddleware",
    "MemqlRetriever",
    "MemqlState",
    "memory_to_message",
    "message_to_memory",
]
