"""Which user tokens belong to deleted users: a user token of a deleted user is refused, until
an admin recreates the user, without a database read per request."""

from __future__ import annotations

import time
from collections import OrderedDict

from app.auth import Viewer
from app.db import Collection
from app.errors import Unauthenticated

MAX_REMEMBERED = 10_000


class DeletedUsers:
    """Answers from what this process last read of each userId, for up to `ttl` seconds; its own
    deletions and re-creations it knows at once. Another process's are seen within `ttl`."""

    def __init__(self, users: Collection, ttl: float) -> None:
        self.users = users
        self.ttl = ttl
        self._known: OrderedDict[str, tuple[bool, float]] = OrderedDict()

    def note(self, user_id: str, *, deleted: bool) -> None:
        self._known[user_id] = (deleted, time.monotonic())
        self._known.move_to_end(user_id)
        while len(self._known) > MAX_REMEMBERED:
            self._known.popitem(last=False)

    async def is_deleted(self, user_id: str) -> bool:
        """The user was deleted and not created again (a userId never created is not deleted:
        its token may create sessions for it, as before the user existed)."""
        known = self._known.get(user_id)
        if known is not None and time.monotonic() - known[1] < self.ttl:
            return known[0]
        raw = await self.users.find_one({"userId": user_id}, {"deletedAt": 1})
        deleted = raw is not None and raw.get("deletedAt") is not None
        self.note(user_id, deleted=deleted)
        return deleted

    async def admit(self, viewer: Viewer) -> Viewer:
        """`viewer`, unless it is a user token of a deleted user."""
        if viewer.user_id is not None and await self.is_deleted(viewer.user_id):
            raise Unauthenticated(
                f"user {viewer.user_id!r} was deleted: its tokens are refused until an admin "
                "creates the user again"
            )
        return viewer
