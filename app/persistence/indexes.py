"""Secondary indexes for the embedded store (mongomock), so that a query reads what it returns.

mongomock answers every query by testing every stored document against the filter, sorting all
that match and copying all of them before it applies `limit`; `create_index` is recorded and
ignored. This module gives a collection's store the indexes memql's queries lead with:

- each `EmbeddedIndex` files every document under the values of its `equal` fields (a bucket),
  sorted inside the bucket by its `order` fields and then by insertion (mongomock's natural
  order), so that `find({sessionId: s, deletedAt: null, seq: {$lt: n}}).sort(seq, -1).limit(51)`
  reads the 51 entries before `n` in one session's bucket, and `{sessionId: {$in: [...]}}` reads
  those sessions' buckets;
- every query still tests each document it reads with mongomock's own `filter_applies`, and
  sorts like mongomock where no index gives the order, so an index only ever narrows what is
  read: the answers are mongomock's (tests/test_embedded_indexes.py compares them on random
  data, filters, sorts and writes).

It reaches into mongomock, because mongomock has no index of its own and no hook for one: a
`CollectionStore` subclass keeps the indexes current on every insert, replace and delete, and
`Collection`'s read methods and in-place update methods are wrapped (`_iter_documents`, `find`,
`find_one`, `count_documents`, `_apply_update_document`, `_apply_update_pipeline`, and
`Cursor._compute_results` for a cursor of an indexed collection). That reach is all here, pinned
to mongomock 4.3.0 by `MONGOMOCK_VERSION` and by a test of the internals it relies on; a
collection whose store is not indexed behaves exactly as mongomock does.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import version
from typing import Any

from bson import ObjectId
from mongomock import collection as mock_collection
from mongomock import filtering as mock_filtering
from mongomock import helpers as mock_helpers
from mongomock import store as mock_store
from pymongo.errors import DuplicateKeyError

# mongomock has no type hints: its objects are Any here.
MockCollection: Any = mock_collection.Collection
MockCursor: Any = mock_collection.Cursor
CollectionStore: Any = mock_store.CollectionStore
filtering: Any = mock_filtering
helpers: Any = mock_helpers

MONGOMOCK_VERSION = "4.3.0"
"""The mongomock whose internals this module was written against (and pyproject.toml pins)."""

MAX_BUCKETS_PER_QUERY = 10_000
"""A filter naming more value combinations than this (`$in` by `$in`) is answered by a scan."""


@dataclass(frozen=True)
class EmbeddedIndex:
    """Documents filed by the values of `equal` (top-level fields), each bucket in `order`."""

    equal: tuple[str, ...]
    order: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.equal or any("." in name or name == "_id" for name in self.equal):
            raise ValueError("an embedded index files top-level fields other than _id")


def _kind(value: Any) -> str | None:
    """The kind of a value an order field sorts by, where Python orders it as mongomock does;
    None for what the index leaves to mongomock (a missing field, a list, NaN, a bool, …)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, float) and not math.isnan(value)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "date" if value.tzinfo is None else None
    if isinstance(value, ObjectId):
        return "objectid"
    return None


def _bucket_value(value: Any) -> Any:
    """What a document's `equal` field is filed under; `_UNKEYED` where it cannot be (a list
    matches each of its elements, a document matches by its whole shape)."""
    if isinstance(value, list | dict):
        return _UNKEYED
    try:
        hash(value)
    except TypeError:
        return _UNKEYED
    return value


_UNKEYED = object()
_MISSING = object()


def _lookup_value(value: Any) -> bool:
    """Whether an equality on `value` finds exactly the documents filed under it: a string or
    null (a missing field is filed under None, as `{field: null}` finds it)."""
    return value is None or isinstance(value, str)


class _Top:
    """Greater than any value: a bisection bound after every entry of a key."""

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return True


_TOP = _Top()


@dataclass(slots=True)
class _Bucket:
    key: tuple[Any, ...]
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    """(order values…, ordinal), sorted."""
    spill: dict[int, None] = field(default_factory=dict)
    """Ordinals of documents whose order values the index cannot sort (read by a scan)."""

    def __len__(self) -> int:
        return len(self.entries) + len(self.spill)

    def ordinals(self) -> Iterator[int]:
        yield from (entry[-1] for entry in self.entries)
        yield from self.spill


_Placement = tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]
"""Where an index filed a document: its bucket's key (None: unkeyed) and its entry there (None:
in the bucket's spill). Plain tuples of atomic values: the garbage collector stops tracking
them, so an index adds nothing to its full collections' walk (measured: a full collection at
a million tracked objects stalls the event loop for a second)."""


class _Index:
    def __init__(self, definition: EmbeddedIndex) -> None:
        self.definition = definition
        self.buckets: dict[tuple[Any, ...], _Bucket] = {}
        self.unkeyed: dict[int, None] = {}
        self.kinds: list[str | None] = [None] * len(definition.order)
        self.placed: dict[int, _Placement] = {}

    def placement(self, ordinal: int, document: Mapping[str, Any]) -> _Placement:
        bucket = tuple(_bucket_value(document.get(name)) for name in self.definition.equal)
        if any(value is _UNKEYED for value in bucket):
            return (None, None)
        values = [document.get(name, _MISSING) for name in self.definition.order]
        for position, value in enumerate(values):
            kind = _kind(value)
            if kind is None:
                return (bucket, None)
            if self.kinds[position] is None:
                self.kinds[position] = kind
            elif self.kinds[position] != kind:
                return (bucket, None)
        return (bucket, (*values, ordinal))

    def add(self, ordinal: int, document: Mapping[str, Any], *, sort: bool = True) -> None:
        """File a document; with `sort=False` its entry is appended, and the caller sorts."""
        key, entry = self.placement(ordinal, document)
        if key is None:
            self.placed[ordinal] = (None, None)
            self.unkeyed[ordinal] = None
            return
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = _Bucket(key)
        self.placed[ordinal] = (bucket.key, entry)  # one tuple for a bucket's key
        if entry is None:
            bucket.spill[ordinal] = None
        elif sort:
            bisect.insort(bucket.entries, entry)
        else:
            bucket.entries.append(entry)

    def remove(self, ordinal: int) -> None:
        key, entry = self.placed.pop(ordinal)
        if key is None:
            del self.unkeyed[ordinal]
            return
        bucket = self.buckets[key]
        if entry is None:
            del bucket.spill[ordinal]
        else:
            entries = bucket.entries
            del entries[bisect.bisect_left(entries, entry)]
        if not len(bucket):
            del self.buckets[key]

    def update(self, ordinal: int, document: Mapping[str, Any]) -> None:
        if self.placed.get(ordinal) != self.placement(ordinal, document):
            self.remove(ordinal)
            self.add(ordinal, document)

    def clear(self) -> None:
        self.buckets.clear()
        self.unkeyed.clear()
        self.placed.clear()
        self.kinds = [None] * len(self.definition.order)


def _equalities(spec: Mapping[str, Any], into: dict[str, list[Any]]) -> None:
    """The values each top-level field of `spec` must equal (by a value, `$eq` or `$in`), where
    an index finds every document equal to them: an index on those fields reads a superset of
    the matches. Strings and null (a missing field is filed under None, as `{field: null}`
    finds it); for `_id`, the store's own key, also ObjectIds and ints."""
    for name, condition in spec.items():
        if name == "$and" and isinstance(condition, list):
            for part in condition:
                if isinstance(part, Mapping):
                    _equalities(part, into)
            continue
        if name.startswith("$") or name in into:
            continue
        findable = _is_id if name == "_id" else _lookup_value
        values: list[Any] | None = None
        if not isinstance(condition, Mapping):
            values = [condition] if findable(condition) else None
        elif "$eq" in condition:
            values = [condition["$eq"]] if findable(condition["$eq"]) else None
        elif isinstance(condition.get("$in"), list | tuple):
            listed = list(condition["$in"])
            values = listed if all(findable(value) for value in listed) else None
        if values is not None:
            into[name] = values


def _is_id(value: Any) -> bool:
    return isinstance(value, str | ObjectId) or type(value) is int


def _bounds(spec: Mapping[str, Any], name: str, kind: str | None) -> tuple[Any, Any]:
    """Inclusive (low, high) bounds `spec` puts on `name`, None where it puts none: looser
    than the filter, never tighter (every document read is tested against it anyway)."""
    low: Any = None
    high: Any = None

    def tighten(bounds: tuple[Any, Any]) -> None:
        nonlocal low, high
        if bounds[0] is not None and (low is None or bounds[0] > low):
            low = bounds[0]
        if bounds[1] is not None and (high is None or bounds[1] < high):
            high = bounds[1]

    for key, condition in spec.items():
        if key == "$and" and isinstance(condition, list):
            for part in condition:
                if isinstance(part, Mapping):
                    tighten(_bounds(part, name, kind))
        elif key == "$or" and isinstance(condition, list) and condition:
            branches = [
                _bounds(part, name, kind) if isinstance(part, Mapping) else (None, None)
                for part in condition
            ]
            lows: list[Any] = [branch[0] for branch in branches]
            highs: list[Any] = [branch[1] for branch in branches]
            tighten(
                (
                    min(lows) if None not in lows else None,
                    max(highs) if None not in highs else None,
                )
            )
        elif key == name:
            if isinstance(condition, Mapping):
                for operator, value in condition.items():
                    if _kind(value) != kind:
                        continue
                    if operator in ("$gt", "$gte", "$eq"):
                        tighten((value, None))
                    if operator in ("$lt", "$lte", "$eq"):
                        tighten((None, value))
            elif _kind(condition) == kind:
                tighten((condition, condition))
    return low, high


class IndexedCollectionStore(CollectionStore):  # type: ignore[misc]
    """mongomock's store of one collection, with `EmbeddedIndex`es kept current."""

    def __init__(self, name: str, definitions: Iterable[EmbeddedIndex]) -> None:
        super().__init__(name)
        self.secondary = [_Index(definition) for definition in definitions]
        self.ordinals: dict[Any, int] = {}
        self.keys: dict[int, Any] = {}
        self._next_ordinal = 0

    # Writes: mongomock stores through these, and updates in place (see `reindex`).
    def __setitem__(self, key: Any, document: Any) -> None:
        super().__setitem__(key, document)
        ordinal = self.ordinals.get(key)
        if ordinal is None:
            ordinal = self._next_ordinal
            self._next_ordinal += 1
            self.ordinals[key] = ordinal
            self.keys[ordinal] = key
            for index in self.secondary:
                index.add(ordinal, document)
        else:
            for index in self.secondary:
                index.update(ordinal, document)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        ordinal = self.ordinals.pop(key)
        del self.keys[ordinal]
        for index in self.secondary:
            index.remove(ordinal)

    def load(self, documents: Iterable[dict[str, Any]]) -> None:
        """Store `documents` as a snapshot holds them (each as mongomock stored it, naive UTC
        dates at millisecond precision) and file them in the indexes, each bucket sorted once:
        a restore. mongomock's checks on an insert are left out (a snapshot holds only what
        mongomock accepted), which makes a restore several times faster than `insert_many`."""
        stored = self._documents
        for document in documents:
            key = _stored_key(document)
            if key in stored:
                raise DuplicateKeyError(f"E11000 duplicate key: _id {key!r} in {self.name}")
            ordinal = self._next_ordinal
            self._next_ordinal += 1
            stored[key] = document
            self.ordinals[key] = ordinal
            self.keys[ordinal] = key
            for index in self.secondary:
                index.add(ordinal, document, sort=False)
        for index in self.secondary:
            for bucket in index.buckets.values():
                bucket.entries.sort()

    def reindex(self, key: Any) -> None:
        """File the document stored at `key` again, after mongomock changed it in place."""
        ordinal = self.ordinals.get(key)
        if ordinal is not None and key in self._documents:
            for index in self.secondary:
                index.update(ordinal, self._documents[key])

    def drop(self) -> None:
        super().drop()
        self.ordinals.clear()
        self.keys.clear()
        for index in self.secondary:
            index.clear()

    # Reads.
    def _plan(self, spec: Mapping[str, Any]) -> list[int] | None:
        """The ordinals of the documents `spec` may match, by the narrowest index; None: all."""
        wanted: dict[str, list[Any]] = {}
        _equalities(spec, wanted)
        best: list[int] | None = None
        if "_id" in wanted:
            best = sorted(
                self.ordinals[key] for key in dict.fromkeys(wanted["_id"]) if key in self.ordinals
            )
        for index in self.secondary:
            if best is not None and len(best) <= 1:
                break
            buckets = self._buckets(index, wanted)
            if buckets is None:
                buckets = self._bucket_range(index, spec)
            if buckets is None:
                continue
            size = len(index.unkeyed) + sum(len(bucket) for bucket in buckets)
            if best is None or size < len(best):
                found = [ordinal for bucket in buckets for ordinal in bucket.ordinals()]
                found.extend(index.unkeyed)
                best = (
                    sorted(found)
                    if len(buckets) > 1 or index.unkeyed or index.definition.order
                    else found
                )
        return best

    @staticmethod
    def _bucket_range(index: _Index, spec: Mapping[str, Any]) -> list[_Bucket] | None:
        """For an index of one field: the buckets of the dates a range on it may match (a
        date range matches dates only), or of every value but null for `{$ne: null}`: the
        purge's `deletedAt` before a time, or set at all."""
        if len(index.definition.equal) != 1:
            return None
        name = index.definition.equal[0]
        if spec.get(name) == {"$ne": None}:
            return [bucket for key, bucket in index.buckets.items() if key[0] is not None]
        low, high = _bounds(spec, name, "date")
        if low is None and high is None:
            return None
        return [
            bucket
            for (value,), bucket in index.buckets.items()
            if _kind(value) == "date"
            and (low is None or value >= low)
            and (high is None or value <= high)
        ]

    @staticmethod
    def _buckets(index: _Index, wanted: Mapping[str, list[Any]]) -> list[_Bucket] | None:
        names = index.definition.equal
        if not all(name in wanted for name in names):
            return None
        combinations = math.prod(len(set(wanted[name])) for name in names)
        if combinations > MAX_BUCKETS_PER_QUERY:
            return None
        keys: list[tuple[Any, ...]] = [()]
        for name in names:
            keys = [(*key, value) for key in keys for value in dict.fromkeys(wanted[name])]
        return [index.buckets[key] for key in keys if key in index.buckets]

    def matching(self, spec: Mapping[str, Any]) -> list[Any]:
        """The stored documents `spec` matches, in natural order (mongomock's answer)."""
        if self.is_empty:
            filtering.filter_applies(spec, {})  # mongomock validates the filter even then
            return []
        ordinals = self._plan(spec)
        if ordinals is None:
            return [
                document
                for document in list(self.documents)
                if filtering.filter_applies(spec, document)
            ]
        documents = self._documents
        keys = self.keys
        found = (documents[keys[ordinal]] for ordinal in ordinals)
        return [document for document in found if filtering.filter_applies(spec, document)]

    def count(self, spec: Mapping[str, Any]) -> int:
        """How many documents `spec` matches: a bucket's size when `spec` is exactly one
        bucket of an index (its equal fields, each a string or null), else by `matching`."""
        if spec and all(
            not name.startswith("$") and _lookup_value(value) for name, value in spec.items()
        ):
            for index in self.secondary:
                if set(index.definition.equal) == set(spec) and not index.unkeyed:
                    bucket = index.buckets.get(tuple(spec[name] for name in index.definition.equal))
                    return 0 if bucket is None else len(bucket)
        return len(self.matching(spec))

    def select(
        self,
        spec: Mapping[str, Any],
        sort: list[tuple[str, int]] | None,
        skip: int,
        limit: int | None,
    ) -> list[Any]:
        """The stored documents of `find(spec).sort(sort).skip(skip).limit(limit)`, in order:
        read in order from an index whose order is `sort`, else matched and sorted as mongomock
        sorts them."""
        end = None if limit is None else skip + limit
        if sort:
            walked = self._walk(spec, sort, end)
            if walked is not None:
                return walked[skip:end]
        return self._sorted(self.matching(spec), sort or [])[skip:end]

    def _walk(
        self, spec: Mapping[str, Any], sort: list[tuple[str, int]], end: int | None
    ) -> list[Any] | None:
        """The first `end` documents of `find(spec).sort(sort)`, read in order from one
        bucket of an index whose order is `sort`; None where no index serves."""
        fields = tuple(name for name, _ in sort)
        directions = {direction for _, direction in sort}
        if len(directions) != 1:
            return None
        backward = directions.pop() < 0
        wanted: dict[str, list[Any]] = {}
        _equalities(spec, wanted)
        # Of the indexes in this order whose equal fields the filter fixes, the smallest bucket:
        # one user's live sessions rather than every live session, which a filter the index
        # cannot test (metadata, say) would have the walk read until its page is full.
        serving: list[tuple[_Bucket, _Index]] = []
        for index in self.secondary:
            names = index.definition.equal
            if index.definition.order == fields and all(
                name in wanted and len(set(wanted[name])) == 1 for name in names
            ):
                key = tuple(wanted[name][0] for name in names)
                serving.append((index.buckets.get(key, _Bucket(())), index))
        if serving:
            bucket, index = min(serving, key=lambda pair: len(pair[0]) + len(pair[1].unkeyed))
            walked = self._read(bucket, index, spec, backward, end)
            # What the index cannot order (a list where it files values, a value of another
            # kind) is matched apart, and mongomock sorts it in with what was walked.
            apart = [*bucket.spill, *index.unkeyed]
            if not apart:
                return walked
            documents = self._documents
            extra = (documents[self.keys[ordinal]] for ordinal in apart)
            merged = walked + [
                document for document in extra if filtering.filter_applies(spec, document)
            ]
            merged.sort(key=lambda document: self.ordinals[_stored_key(document)])
            return self._sorted(merged, sort)[:end]
        return None

    @staticmethod
    def _sorted(documents: list[Any], sort: list[tuple[str, int]]) -> list[Any]:
        """`documents` (in natural order) sorted as mongomock sorts: a stable sort a key."""
        for name, direction in reversed(sort):
            documents.sort(key=functools.partial(_sort_key, name), reverse=direction < 0)
        return documents

    def _read(
        self,
        bucket: _Bucket,
        index: _Index,
        spec: Mapping[str, Any],
        backward: bool,
        end: int | None,
    ) -> list[Any]:
        entries = bucket.entries
        low, high = _bounds(spec, index.definition.order[0], index.kinds[0])
        start = 0 if low is None else bisect.bisect_left(entries, (low,))
        stop = len(entries) if high is None else bisect.bisect_left(entries, (high, _TOP))
        positions: Iterable[int] = (
            range(stop - 1, start - 1, -1) if backward else range(start, stop)
        )
        documents = self._documents
        keys = self.keys
        found: list[Any] = []
        run: list[Any] = []
        run_key: tuple[Any, ...] | None = None
        for position in positions:
            entry = entries[position]
            if backward and entry[:-1] != run_key:
                # mongomock's sort is stable: equal keys keep natural order, even descending.
                found.extend(reversed(run))
                run = []
                run_key = entry[:-1]
                if end is not None and len(found) >= end:
                    break
            document = documents[keys[entry[-1]]]
            if filtering.filter_applies(spec, document):
                (run if backward else found).append(document)
                if not backward and end is not None and len(found) >= end:
                    break
        found.extend(reversed(run))
        return found


def excluded_fields(projection: Any) -> frozenset[str] | None:
    """The top-level fields a projection that only leaves fields out leaves out (memory reads
    leave out a memory's words); None for any other projection."""
    if not isinstance(projection, Mapping) or not projection:
        return None
    if any(
        value not in (0, False) or "." in key or "$" in key for key, value in projection.items()
    ):
        return None
    return frozenset(projection)


def copy_without(document: Mapping[str, Any], excluded: frozenset[str]) -> dict[str, Any]:
    """The copy mongomock makes of `document` under a projection leaving out `excluded`, without
    its per-field projection machinery, which costs more than copying a memory's words
    (tests/test_embedded_indexes.py compares the two)."""
    copy_field: Callable[[Any, type], Any] = mock_collection._copy_field
    return {key: copy_field(value, dict) for key, value in document.items() if key not in excluded}


def _sort_key(name: str, document: Any) -> Any:
    return filtering.resolve_sort_key(name, document)


class IndexedCursor(MockCursor):  # type: ignore[misc]
    """mongomock's cursor on an indexed collection: its page is read by `select` and only the
    documents it returns are copied (mongomock copies every match, then applies `limit`)."""

    def _compute_results(self, with_limit_and_skip: bool = False) -> list[Any]:
        sort = self._sort.items() if isinstance(self._sort, dict) else self._sort
        if not with_limit_and_skip or any(name.startswith("$") for name, _ in sort or ()):
            everything: list[Any] = super()._compute_results(with_limit_and_skip)
            return everything
        asked = (self._factory, self._skip, self._limit)
        if getattr(self, "_indexed_asked", None) != asked:
            collection = self.collection
            limit = abs(self._limit) if self._limit else None
            selected = collection._store.select(self._spec, list(sort or ()), self._skip, limit)
            excluded = excluded_fields(self._projection)
            copied = [
                collection._copy_only_fields(document, self._projection, dict)
                if excluded is None
                else copy_without(document, excluded)
                for document in selected
            ]
            if collection.codec_options.tz_aware:
                copied = [helpers.make_datetime_timezone_aware_in_document(x) for x in copied]
            self._indexed_results = copied
            self._indexed_asked = asked
        results: list[Any] = self._indexed_results
        return results


def _indexed(collection: MockCollection) -> IndexedCollectionStore | None:
    store = collection._store
    return store if isinstance(store, IndexedCollectionStore) else None


def _stored_key(document: Mapping[str, Any]) -> Any:
    key = document.get("_id")
    return helpers.hashdict(key) if isinstance(key, dict) else key


WRAPPED: dict[str, Callable[..., Any]] = {}
"""mongomock's own methods that `_wrap_reads_and_updates` wrapped, by `Class.name`."""


def _wrap_reads_and_updates() -> None:
    """Wrap mongomock's Collection methods once per process; each does what it did for a
    collection whose store is not indexed."""
    if getattr(MockCollection, "_memql_indexed", False):
        return
    for name in (
        "_iter_documents",
        "find",
        "find_one",
        "count_documents",
        "_apply_update_document",
        "_apply_update_pipeline",
    ):
        WRAPPED[f"Collection.{name}"] = getattr(MockCollection, name)
    original_iter = WRAPPED["Collection._iter_documents"]
    original_find = WRAPPED["Collection.find"]
    original_find_one = WRAPPED["Collection.find_one"]
    original_count = WRAPPED["Collection.count_documents"]

    def _iter_documents(self: MockCollection, filter: Any) -> Iterator[Any]:
        store = _indexed(self)
        if store is None:
            return original_iter(self, filter)  # type: ignore[no-any-return]
        return iter(store.matching(filter))

    def find(self: MockCollection, *args: Any, **kwargs: Any) -> Any:
        cursor = original_find(self, *args, **kwargs)
        if _indexed(self) is not None:
            cursor.__class__ = IndexedCursor
        return cursor

    def find_one(self: MockCollection, filter: Any = None, *args: Any, **kwargs: Any) -> Any:
        if _indexed(self) is None or "limit" in kwargs:
            return original_find_one(self, filter, *args, **kwargs)
        if filter is None:
            filter = {}
        if not isinstance(filter, Mapping):
            filter = {"_id": filter}
        return next(iter(self.find(filter, *args, **kwargs).limit(1)), None)

    def count_documents(self: MockCollection, filter: Any, **kwargs: Any) -> int:
        store = _indexed(self)
        if store is None or kwargs or not isinstance(filter, Mapping):
            return original_count(self, filter, **kwargs)  # type: ignore[no-any-return]
        return store.count(helpers.patch_datetime_awareness_in_document(filter))

    def reindexing(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: MockCollection, existing_document: Any, *args: Any, **kwargs: Any) -> Any:
            key = _stored_key(existing_document)
            result = method(self, existing_document, *args, **kwargs)
            store = _indexed(self)
            if store is not None:
                store.reindex(key)
            return result

        return wrapper

    MockCollection._iter_documents = _iter_documents
    MockCollection.find = find
    MockCollection.find_one = find_one
    MockCollection.count_documents = count_documents
    MockCollection._apply_update_document = reindexing(MockCollection._apply_update_document)
    MockCollection._apply_update_pipeline = reindexing(MockCollection._apply_update_pipeline)
    MockCollection._memql_indexed = True


# Before any collection object exists: mongomock-motor wraps each one's `_iter_documents` as it
# finds it on the class when the collection is made.
_wrap_reads_and_updates()


def install(collection: Any, definitions: Iterable[EmbeddedIndex]) -> IndexedCollectionStore:
    """Give `collection` (a mongomock or mongomock-motor collection, empty) indexed storage:
    every mongomock collection object of that name then reads and writes through it."""
    installed = version("mongomock")
    if installed != MONGOMOCK_VERSION:
        raise RuntimeError(
            f"memql's embedded indexes were written for mongomock {MONGOMOCK_VERSION}, "
            f"not {installed} (pyproject.toml pins it)"
        )
    _wrap_reads_and_updates()
    database_store = collection._db_store
    name = collection.name
    existing = database_store[name]
    if isinstance(existing, IndexedCollectionStore):
        return existing
    store = IndexedCollectionStore(name, definitions)
    store.indexes = existing.indexes
    store._ttl_indexes = existing._ttl_indexes
    for key, document in existing._documents.items():
        store[key] = document
    database_store._collections[name] = store
    return store
