"""All MongoDB access: one store per collection, over one `Database`."""

from __future__ import annotations

from app.db import Database
from app.store.memories import MemoryStore
from app.store.sessions import SessionStore
from app.store.users import UserStore


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.users = UserStore(db)
        self.sessions = SessionStore(db)
        self.memories = MemoryStore(db)
