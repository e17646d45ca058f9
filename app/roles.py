"""Who spoke a memory, in the vocabulary of chat-completion APIs."""

from __future__ import annotations

import enum


class RoleType(enum.Enum):
    SYSTEM = "system"
    ASSISTANT = "assistant"
    USER = "user"
    FUNCTION = "function"
    TOOL = "tool"
    NOROLE = "norole"
