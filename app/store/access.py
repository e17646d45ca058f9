"""What one caller may read and change: the one home of memql's authorization rules.

Every store is bound to an `Access` (`Store.for_viewer`), so each read and write is confined by
construction, whichever entry point calls it. Words used throughout:

- the *viewer* is who calls (app.auth.Viewer): an admin, or one user's token;
- a caller is *confined to* a userId when it holds that user's token (admins are not confined);
- a session or user *belongs to* a userId (`SessionDoc.user_id`), and a memory to its session's.
"""

from __future__ import annotations

from app.auth import Viewer
from app.db import Document
from app.errors import Forbidden, NotFound


class Access:
    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.confined_to: str | None = None if viewer.admin else viewer.user_id
        self.may_write_reserved_metadata = viewer.admin
        """Only admin tokens write the top-level metadata key `system` (Zep reserved it)."""

    @property
    def admin(self) -> bool:
        return self.confined_to is None

    def require_admin(self, what: str) -> None:
        if not self.admin:
            raise Forbidden(f"{what} needs an admin token")

    def may_see(self, user_id: str | None) -> bool:
        """Whether something belonging to `user_id` (None: to no user) is the caller's to see."""
        return self.admin or (user_id is not None and user_id == self.confined_to)

    def check_acting_for(self, user_id: str | None, field: str) -> None:
        """A user token acts only for its own user: naming another userId is FORBIDDEN."""
        if user_id is not None and not self.may_see(user_id):
            raise Forbidden(f"this token may only act for userId {self.confined_to!r}", field=field)

    def user_for_new(self, user_id: str | None) -> str | None:
        """The user something a caller creates belongs to: a user token's own user (the token
        vouches for it), or what an admin names."""
        return user_id if self.admin else self.confined_to

    def belonging(self, field: str = "userId") -> Document:
        """A filter narrowing documents with a `userId` to those the caller may see."""
        return {} if self.admin else {field: self.confined_to}

    def denied(self, what: str, key: str, field: str) -> Forbidden:
        """The same answer whether or not the thing exists, so a user learns nothing of
        others' data."""
        return Forbidden(f"this token may not access the {what} {key!r}", field=field)

    def missing(self, what: str, key: str, field: str) -> NotFound | Forbidden:
        """The error for a write to something that is not there, or not the caller's."""
        if not self.admin:
            return self.denied(what, key, field)
        return NotFound(f"no {what} with {field} {key!r}", field=field)

    def unseen(self, what: str, key: str, field: str) -> None:
        """What reading something the caller cannot see answers: null for an admin (it does
        not exist); for a user token FORBIDDEN, whether or not it exists."""
        if not self.admin:
            raise self.denied(what, key, field)

    def unseen_user(self, user_id: str, field: str = "userId") -> None:
        """Reading a user by userId: a user token's own user is simply missing (null); any
        other is FORBIDDEN, whether or not it exists."""
        if not self.may_see(user_id):
            raise self.denied("user", user_id, field)
