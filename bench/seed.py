"""Benchmark data, written through the store layer so it is stored exactly as the API stores it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from bson import ObjectId

from app.auth import OPEN
from app.db import Collection, Document
from app.roles import RoleType
from app.search_terms import search_terms
from app.store import Store
from app.store.memories import NewMemory
from app.store.search import SEARCH_TERMS
from app.store.users import UserFields

HOT_MEMORIES = 100
"""The first session's memories: the session whose latest 50 the benchmark reads."""


@dataclass(frozen=True)
class Sizes:
    users: int = 100
    sessions: int = 1_000
    memories: int = 20_000

    def __post_init__(self) -> None:
        if self.users < 1 or self.sessions < self.users or self.memories < 0:
            raise ValueError("sizes need at least 1 user and at least as many sessions as users")

    def memories_of(self, session: int) -> int:
        """The hot session gets HOT_MEMORIES (or all there are); the rest are spread evenly."""
        hot = min(self.memories, HOT_MEMORIES)
        if session == 0:
            return hot
        others = self.sessions - 1
        spread, extra = divmod(self.memories - hot, others) if others else (0, 0)
        return spread + (1 if session - 1 < extra else 0)


def user_id(index: int) -> str:
    return f"bench-u{index:05d}"


def session_id(index: int) -> str:
    return f"bench-s{index:06d}"


HOT_SESSION = session_id(0)

ROLES = (("human", RoleType.USER), ("ai", RoleType.ASSISTANT))


def memory(session: int, seq: int) -> NewMemory:
    role, role_type = ROLES[seq % 2]
    return NewMemory(
        role=role,
        role_type=role_type,
        content=content(session, seq),
        metadata={"turn": seq, "tokens": 32},
    )


def content(session: int, seq: int) -> str:
    return f"Message {seq} of session {session}: " + "lorem ipsum dolor sit amet " * 4


async def seed(store: Store, sizes: Sizes) -> None:
    """The first user, session and memory go through the store; the rest are copies of what it
    stored, with their own ids, written with insert_many (the embedded store scans a collection
    on every store call, so a call per document would take minutes). Users own sessions
    round-robin: user i has sessions i, i + users, ..."""
    db = store.db
    admin = store.for_viewer(OPEN)
    await admin.users.add(user_id(0), UserFields(first_name="User 0", metadata={"plan": "bench"}))
    await admin.sessions.add(session_id(0), user_id=user_id(0), metadata={"topic": "bench"})
    hot = sizes.memories_of(0)
    if hot:
        await admin.memories.add(session_id(0), [memory(0, seq) for seq in range(hot)])
    user = await db.users.find_one({"userId": user_id(0)})
    session = await db.sessions.find_one({"sessionId": session_id(0)})
    assert user is not None and session is not None
    await insert(
        db.users,
        (
            {**user, "_id": ObjectId(), "userId": user_id(index), "firstName": f"User {index}"}
            for index in range(1, sizes.users)
        ),
    )
    await insert(
        db.sessions,
        (
            {
                **session,
                "_id": ObjectId(),
                "sessionId": session_id(index),
                "userId": user_id(index % sizes.users),
                "memorySeq": sizes.memories_of(index),
            }
            for index in range(1, sizes.sessions)
        ),
    )
    template = await db.memories.find_one({"sessionId": session_id(0)})
    if template is None:
        return
    await insert(
        db.memories,
        (
            {
                **template,
                "_id": str(uuid.uuid4()),
                "sessionId": session_id(index),
                "seq": seq + 1,
                "role": ROLES[seq % 2][0],
                "roleType": ROLES[seq % 2][1].value,
                "content": content(index, seq),
                SEARCH_TERMS: search_terms(content(index, seq)),
                "metadata": {"turn": seq, "tokens": 32},
            }
            for index in range(1, sizes.sessions)
            for seq in range(sizes.memories_of(index))
        ),
    )


async def insert(collection: Collection, documents: Iterable[Document]) -> None:
    batch: list[Document] = []
    for document in documents:
        batch.append(document)
        if len(batch) == 10_000:
            await collection.insert_many(batch)
            batch = []
    if batch:
        await collection.insert_many(batch)
