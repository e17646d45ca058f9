"""The one mapping between LangChain messages and memql memories, lossless both ways.

A message becomes one memory:

- `role` is the message's `type` (`human`, `ai`, `system`, `tool`, `function`, `chat`, or a
  chunk's type such as `AIMessageChunk`); `roleType` follows from the class: human → USER,
  ai → ASSISTANT, system → SYSTEM, tool → TOOL, function → FUNCTION, and for a `ChatMessage`
  its `role` (user/human, assistant/ai, system, tool, function; anything else NOROLE).
- `content` is the message's text: its content when that is a string; for list content (text
  and multimodal blocks) the text of its text blocks, while the list itself is kept in the
  metadata below, so it reads back as the same list.
- `metadata` is `{"langchain": fields}`: every field of the message's `model_dump()` except
  `type` and string `content` whose value differs from the field's default (ids, names, tool
  calls, tool_call_id, artifacts, status, additional kwargs, response metadata, usage, extra
  fields), and `content` when it is a list.

memql's metadata keys must not be empty, start with `$` or contain `.` or NUL, and memql drops
an object member whose value is null; so inside `fields`, at every depth:

- each object key is escaped: `%` → `%25`, `.` → `%2E`, NUL → `%00`, a leading `$` → `%24`,
  and the empty key becomes `%`;
- a null object member is stored as `{"%null": true}` (nulls inside lists stay nulls).

Escaped keys always follow `%` with two hex digits, so `%` and `%null` cannot be confused with
them. Values must be JSON (str keys, finite floats, no tuples or other objects): anything else
raises TypeError before a request is sent. memql then checks what it stores: metadata over
64 KiB as BSON (large inline images or artifacts, say), integers beyond 64 bits, nesting past
16 levels or content over 1 MiB raise BadUserInputError naming the memory, and nothing of that
call is stored.

A memory without `metadata.langchain` (written by GraphQL or `/zep` clients) reads back as the
message its `roleType` names — USER → HumanMessage, ASSISTANT → AIMessage, SYSTEM →
SystemMessage, TOOL → ToolMessage, FUNCTION → FunctionMessage named by `role` — or, without one
(null or NOROLE), the one its `role` names (human/user, ai/assistant, system, tool, function),
else a ChatMessage with that role; its id is the memory's uuid.
"""

from __future__ import annotations

import math
import re
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    messages_from_dict,
)

from memql_client.models import JsonObject, Memory, MemoryInput, RoleType

METADATA_KEY = "langchain"
NULL_TAG = "%null"
EMPTY_KEY = "%"

_ROLE_TYPES_BY_NAME = {
    "human": RoleType.USER,
    "user": RoleType.USER,
    "ai": RoleType.ASSISTANT,
    "assistant": RoleType.ASSISTANT,
    "system": RoleType.SYSTEM,
    "tool": RoleType.TOOL,
    "function": RoleType.FUNCTION,
}
_ROLE_TYPES_BY_CLASS: list[tuple[type[BaseMessage], RoleType]] = [
    (HumanMessage, RoleType.USER),
    (AIMessage, RoleType.ASSISTANT),
    (SystemMessage, RoleType.SYSTEM),
    (ToolMessage, RoleType.TOOL),
    (FunctionMessage, RoleType.FUNCTION),
]
_ESCAPED = re.compile("%(25|2E|00|24)")


def role_type_of(message: BaseMessage) -> RoleType:
    if isinstance(message, ChatMessage):
        return _ROLE_TYPES_BY_NAME.get(message.role, RoleType.NOROLE)
    for cls, role_type in _ROLE_TYPES_BY_CLASS:
        if isinstance(message, cls):
            return role_type
    return RoleType.NOROLE


def message_to_memory(message: BaseMessage) -> MemoryInput:
    """The memory that stores `message`; TypeError when the message holds non-JSON values."""
    data = message.model_dump()
    del data["type"]
    content = data.pop("content")
    fields = {name: value for name, value in data.items() if not _is_default(message, name, value)}
    if not isinstance(content, str):
        fields["content"] = content
    return MemoryInput(
        role=message.type,
        content=str(message.text),
        role_type=role_type_of(message),
        metadata={METADATA_KEY: encode_json(fields, type(message).__name__)},
    )


def memory_to_message(memory: Memory) -> BaseMessage:
    """The message `memory` stores; a memory of another client reads as its roleType says."""
    encoded = memory.metadata.get(METADATA_KEY)
    if not isinstance(encoded, dict):
        return _message_of_other_client(memory)
    fields = decode_json(encoded)
    data = {"content": memory.content, **fields}
    return messages_from_dict([{"type": memory.role, "data": data}])[0]


def _is_default(message: BaseMessage, name: str, value: Any) -> bool:
    field = type(message).model_fields.get(name)
    if field is None or field.is_required():
        return False
    return bool(value == field.get_default(call_default_factory=True))


def _message_of_other_client(memory: Memory) -> BaseMessage:
    role_type = memory.role_type
    if role_type is None or role_type is RoleType.NOROLE:
        role_type = _ROLE_TYPES_BY_NAME.get(memory.role, RoleType.NOROLE)
    content, id = memory.content, memory.uuid
    if role_type is RoleType.USER:
        return HumanMessage(content, id=id)
    if role_type is RoleType.ASSISTANT:
        return AIMessage(content, id=id)
    if role_type is RoleType.SYSTEM:
        return SystemMessage(content, id=id)
    if role_type is RoleType.TOOL:
        return ToolMessage(content, tool_call_id="", id=id)
    if role_type is RoleType.FUNCTION:
        return FunctionMessage(content=content, name=memory.role, id=id)
    return ChatMessage(content=content, role=memory.role, id=id)


def encode_json(value: JsonObject, path: str) -> JsonObject:
    """`value` with its keys escaped and null members tagged, as memql can store it."""
    encoded = _encode(value, path)
    assert isinstance(encoded, dict)
    return encoded


def _encode(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        encoded = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path} has the key {key!r}; JSON object keys are strings")
            item_path = f"{path}[{key!r}]"
            encoded[escape_key(key)] = (
                {NULL_TAG: True} if item is None else _encode(item, item_path)
            )
        return encoded
    if isinstance(value, list):
        return [_encode(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise TypeError(
        f"{path} is {value!r}, which is not JSON; memql stores a message's fields as JSON "
        "(strings, numbers, booleans, null, lists and objects with string keys)"
    )


def decode_json(value: JsonObject) -> JsonObject:
    """The object `encode_json` was given."""
    decoded = _decode(value)
    assert isinstance(decoded, dict)
    return decoded


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if NULL_TAG in value:
            return None
        return {unescape_key(key): _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def escape_key(key: str) -> str:
    if key == "":
        return EMPTY_KEY
    escaped = key.replace("%", "%25").replace(".", "%2E").replace("\x00", "%00")
    return "%24" + escaped[1:] if escaped.startswith("$") else escaped


def unescape_key(key: str) -> str:
    if key == EMPTY_KEY:
        return ""
    return _ESCAPED.sub(lambda match: chr(int(match[1], 16)), key)
