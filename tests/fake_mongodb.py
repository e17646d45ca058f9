"""MongoDB's index commands behind motor's API, for the tests of index creation without a
MongoDB: the indexes created are remembered and listed, and every command is recorded as a
CommandListener sees it on a real server."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pymongo import IndexModel
from pymongo.errors import OperationFailure

Command = tuple[str, str, dict[str, Any]]
"""A command's name, the collection it names and the whole document sent."""


class FakeMongoClient:
    """Like MongoDB, createIndexes is a no-op for an identical index and fails for one that
    differs only in its options, and collMod changes an index in place."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.indexes: dict[str, list[dict[str, Any]]] = {}
        self.created: list[tuple[str, str]] = []
        """(collection, index name) of each index createIndexes added, in order."""
        self.session = {"id": uuid.uuid4()}

    def __getitem__(self, name: str) -> FakeDatabase:
        return FakeDatabase(self, name)

    def record(self, database: str, command: dict[str, Any]) -> None:
        # pymongo adds these to the command document, so a listener sees them on MongoDB.
        sent = {**copy.deepcopy(command), "$db": database, "lsid": self.session}
        name = next(iter(command))
        self.commands.append((name, command[name], sent))

    def close(self) -> None:
        pass


class FakeDatabase:
    def __init__(self, server: FakeMongoClient, name: str) -> None:
        self.server = server
        self.name = name

    def __getitem__(self, name: str) -> FakeCollection:
        return FakeCollection(self, name)

    async def command(self, command: dict[str, Any]) -> dict[str, Any]:
        self.server.record(self.name, command)
        name = next(iter(command))
        assert name == "collMod", f"the fake plays collMod only, not {name}"
        change = command["index"]
        for index in self.server.indexes.get(command[name], []):
            if index["name"] == change["name"]:
                old, new = index.get("expireAfterSeconds"), change["expireAfterSeconds"]
                index["expireAfterSeconds"] = new
                return {"expireAfterSeconds_old": old, "expireAfterSeconds_new": new, "ok": 1.0}
        raise OperationFailure("index not found", code=27)


class FakeCollection:
    def __init__(self, database: FakeDatabase, name: str) -> None:
        self.database = database
        self.server = database.server
        self.name = name

    async def list_indexes(self) -> AsyncIterator[dict[str, Any]]:
        self.server.record(self.database.name, {"listIndexes": self.name})
        for index in self.server.indexes.get(self.name, []):
            yield copy.deepcopy(index)

    async def create_indexes(self, models: list[IndexModel]) -> list[str]:
        documents = [copy.deepcopy(dict(model.document)) for model in models]
        self.server.record(self.database.name, {"createIndexes": self.name, "indexes": documents})
        existing = self.server.indexes.setdefault(self.name, [])
        for document in documents:
            same_key = [index for index in existing if index["key"] == document["key"]]
            if not same_key:
                existing.append(document)
                self.server.created.append((self.name, document["name"]))
            elif same_key[0] != document:
                raise OperationFailure("Index with name: ... already exists", code=85)
        return [document["name"] for document in documents]
