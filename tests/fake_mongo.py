"""MongoDB's index commands behind motor's API, for tests of what memql does to indexes where no
MongoDB server is at hand; each command is recorded as a CommandListener would see it.

It answers as MongoDB's documentation says the server does: createIndexes is a no-op for an index
that exists with the same name, keys and options; it fails with code 85 (IndexOptionsConflict)
for an index whose keys exist under another name or with other options, and with code 86
(IndexKeySpecsConflict) for a name taken by other keys. collMod changes an index in place, or
fails with code 13 (Unauthorized) for a user without the collMod action, as one with only the
built-in readWrite role is.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

from pymongo import IndexModel
from pymongo.errors import OperationFailure

Command = tuple[str, str, dict[str, Any]]
ID_INDEX: dict[str, Any] = {"v": 2, "key": {"_id": 1}, "name": "_id_"}


class FakeMongoClient:
    def __init__(self, *, may_coll_mod: bool = True) -> None:
        self.commands: list[Command] = []
        self.indexes: dict[str, list[dict[str, Any]]] = {}
        self.may_coll_mod = may_coll_mod

    def __getitem__(self, name: str) -> FakeDatabase:
        return FakeDatabase(self, name)

    def get_database(self, name: str, **options: Any) -> FakeDatabase:
        return FakeDatabase(self, name)

    def add_index(self, collection: str, keys: dict[str, Any], name: str, **options: Any) -> None:
        """An index someone else made (a DBA, or shardCollection)."""
        self._indexes(collection).append({"v": 2, "key": keys, "name": name, **options})

    def _indexes(self, collection: str) -> list[dict[str, Any]]:
        return self.indexes.setdefault(collection, [copy.deepcopy(ID_INDEX)])

    def close(self) -> None:
        pass


class FakeDatabase:
    def __init__(self, server: FakeMongoClient, name: str) -> None:
        self.server = server
        self.name = name

    def __getitem__(self, name: str) -> FakeCollection:
        return FakeCollection(self.server, name)

    async def command(self, command: dict[str, Any]) -> dict[str, Any]:
        name = next(iter(command))
        self.server.commands.append((name, command[name], copy.deepcopy(command)))
        assert name == "collMod", f"the fake plays collMod only, not {name}"
        if not self.server.may_coll_mod:
            raise OperationFailure(
                f"not authorized on {self.name} to execute command {{ collMod: ... }}", code=13
            )
        change = command["index"]
        for index in self.server._indexes(command[name]):
            if index["name"] == change["name"]:
                old, new = index.get("expireAfterSeconds"), change["expireAfterSeconds"]
                index["expireAfterSeconds"] = new
                return {"expireAfterSeconds_old": old, "expireAfterSeconds_new": new, "ok": 1.0}
        raise OperationFailure("index not found", code=27)


def _options(index: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in index.items() if name not in ("v", "key", "name")}


class FakeCollection:
    def __init__(self, server: FakeMongoClient, name: str) -> None:
        self.server = server
        self.name = name

    async def list_indexes(self) -> AsyncIterator[dict[str, Any]]:
        self.server.commands.append(("listIndexes", self.name, {"listIndexes": self.name}))
        for index in self.server._indexes(self.name):
            yield copy.deepcopy(index)

    async def create_indexes(self, models: list[IndexModel]) -> list[str]:
        documents = [copy.deepcopy(dict(model.document)) for model in models]
        self.server.commands.append(
            ("createIndexes", self.name, {"createIndexes": self.name, "indexes": documents})
        )
        existing = self.server._indexes(self.name)
        for document in documents:
            keys = list(dict(document["key"]).items())
            named = [index for index in existing if index["name"] == document["name"]]
            same_keys = [index for index in existing if list(index["key"].items()) == keys]
            if named and list(named[0]["key"].items()) != keys:
                raise OperationFailure(
                    "An existing index has the same name as the requested index but different keys",
                    code=86,
                )
            if named and _options(named[0]) != _options(document):
                raise OperationFailure(
                    "An equivalent index already exists with the same name but different options",
                    code=85,
                )
            if not named and same_keys:
                raise OperationFailure(
                    f"Index already exists with a different name: {same_keys[0]['name']}", code=85
                )
            if not named:
                existing.append({"v": 2, **document, "key": dict(document["key"])})
        return [document["name"] for document in documents]

    def find(self, filter: dict[str, Any], projection: Any = None) -> AsyncIterator[Any]:
        """The fake holds indexes only, so a query (the search terms' backfill) finds nothing;
        not recorded, as it is no index command."""
        return _nothing()


async def _nothing() -> AsyncIterator[Any]:
    nothing: list[Any] = []
    for item in nothing:
        yield item
