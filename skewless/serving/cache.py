"""The serving cache: stored rows by key, in process, with a bounded staleness and size.

Hot entities (the articles every slate shares) are read from the store once per staleness window
instead of once per request. The cache sits *under* retrieval, as an online store: a key
(``sk:{project}:{view}@v{version}:{entity}``) names one view version and one entity, so a new
view version never reads an old entry, and retrieval, TTL checks and on-demand features run
exactly as without it. It keeps the stored bytes (decoding a row costs a few µs; the round trip
it saves costs hundreds).

- ``staleness`` (``serving.cache_staleness_ms``): an entry read less than this long ago is served
  without asking the store. 0 turns hits off.
- ``fallback`` (``serving.cache_fallback_ms``): when the store is unavailable, an entry read less
  than this long ago is served anyway, and its values get the status ``CACHED``. Keys with no
  usable entry get ``STORE_UNAVAILABLE``. 0 turns this off.
- ``max_entries`` (``serving.cache_max_entries``): least recently used entries go first.

Absent keys are cached too (as absent), so a missing entity does not cost a round trip each time.
An entity's tiles are cached the same way, as the values of the fields a read asked of its state
hash, under (hash key, field set serial): a read plan asks new fields each base tile, so a window's
tiles are never older than the staleness either.
The cache is used from the event loop only (one thread), so it needs no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from skewless.errors import OnlineStoreUnavailableError
from skewless.online.protocol import FieldRead, OnlineStore, Values

_Outcome = tuple[Values, list[Values]] | OnlineStoreUnavailableError  # what a store read gave
# (monotonic time it was read, what was read): a stored value or None if absent, or a hash's field values.
Entry = tuple[float, Any]


class RowCache:
    def __init__(self, *, max_entries: int, staleness_seconds: float, fallback_seconds: float) -> None:
        self.max_entries = max_entries
        self.staleness_seconds = staleness_seconds
        self.fallback_seconds = max(fallback_seconds, staleness_seconds)
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, read_after: float) -> Entry | None:
        """The entry of ``key`` if it was read after ``read_after`` (monotonic seconds)."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < read_after:
            return None
        self._entries.move_to_end(key)
        return entry

    def get_many(self, keys: Sequence[Hashable], read_after: float) -> list[Entry | None]:
        """``get`` of each key, in one pass: a request asks ~100 keys, and a method call per key
        cost more than the store read it saved."""
        entries = self._entries
        found = [entries.get(key) for key in keys]
        touch = entries.move_to_end
        for i, (key, entry) in enumerate(zip(keys, found, strict=True)):
            if entry is not None:
                if entry[0] < read_after:
                    found[i] = None
                else:
                    touch(key)
        return found

    def put_many(self, items: Sequence[tuple[Hashable, Any]], now: float) -> None:
        entries = self._entries
        touch = entries.move_to_end
        for key, value in items:
            entries[key] = (now, value)
            touch(key)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)

    def put(self, key: Hashable, value: Any, now: float) -> None:
        entries = self._entries
        entries[key] = (now, value)
        entries.move_to_end(key)
        if len(entries) > self.max_entries:
            entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


@dataclass
class _Lookup:
    """One read's units (keys, and hashes with their fields), what the cache gave, what is missing."""

    keys: Sequence[bytes]
    field_reads: Sequence[FieldRead]
    units: list[Hashable]
    names: list[bytes]
    now: float
    found: list[Any]
    missing: list[int]
    call: tuple[list[bytes], list[FieldRead]] | None = field(default=None)


class CachedRead:
    """One request's view of the store: cache first, then the store, then the cache again if the
    store fails. Never raises for an unavailable store; it records which keys it could only
    serve from the cache (``cached``) or not at all (``unavailable``) so statuses can say so.
    """

    def __init__(
        self,
        store: OnlineStore,
        cache: RowCache | None,
        *,
        on_lookup: Callable[[int, int, int], None] = lambda hits, misses, fallbacks: None,
        on_read: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self.store = store
        self.cache = cache
        self.on_lookup = on_lookup  # keys: served from the cache, read from the store, served from it as a fallback
        self.on_read = on_read  # seconds a store read took (failed ones included)
        self.cached: set[bytes] = set()
        self.unavailable: set[bytes] = set()

    @property
    def degraded(self) -> bool:
        return bool(self.cached or self.unavailable)

    def get_many(self, keys: Sequence[bytes]) -> Values:
        return self.read(keys, ())[0]

    def read(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        if self.cache is None:  # nothing to look up or keep: the store's answer, or nothing
            started = time.perf_counter()
            try:
                return self.store.read(keys, field_reads)
            except OnlineStoreUnavailableError:
                return self._nothing(keys, field_reads)
            finally:
                self.on_read(time.perf_counter() - started)
        lookup = self._lookup(keys, field_reads)
        if lookup.call is None:
            return self._complete(lookup, None)
        started = time.perf_counter()
        try:
            outcome: _Outcome = self.store.read(*lookup.call)
        except OnlineStoreUnavailableError as exc:
            outcome = exc
        self.on_read(time.perf_counter() - started)
        return self._complete(lookup, outcome)

    async def read_async(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        """:meth:`read`, awaiting the store (a :class:`~skewless.serving.guard.GuardedStore`)."""
        if self.cache is None:
            started = time.perf_counter()
            try:
                return await self.store.read_async(keys, field_reads)  # type: ignore[attr-defined, no-any-return]
            except OnlineStoreUnavailableError:
                return self._nothing(keys, field_reads)
            finally:
                self.on_read(time.perf_counter() - started)
        lookup = self._lookup(keys, field_reads)
        if lookup.call is None:
            return self._complete(lookup, None)
        store: Any = self.store
        started = time.perf_counter()
        try:
            outcome: _Outcome = await store.read_async(*lookup.call)
        except OnlineStoreUnavailableError as exc:
            outcome = exc
        self.on_read(time.perf_counter() - started)
        return self._complete(lookup, outcome)

    def _nothing(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        """An unavailable store's answer without a cache: every key and hash unavailable."""
        self.unavailable.update(keys)
        for hashes, _ in field_reads:
            self.unavailable.update(hashes)
        return [None] * len(keys), [[None] * (len(hashes) * len(fields)) for hashes, fields in field_reads]

    def _lookup(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> _Lookup:
        """What the cache holds, and the store call for the rest (None: nothing left to read)."""
        # Each thing asked is a unit: a key, or a hash with the fields asked of it; ``names[i]`` is
        # what statuses know it by (the key, the hash's key).
        units: list[Hashable] = [*keys, *((h, fields.serial) for hashes, fields in field_reads for h in hashes)]
        names = [*keys, *(h for hashes, _ in field_reads for h in hashes)]
        lookup = _Lookup(keys, field_reads, units, names, time.monotonic(), [None] * len(units), list(range(len(units))))
        cache = self.cache
        if cache is not None and cache.staleness_seconds > 0:
            entries = cache.get_many(units, lookup.now - cache.staleness_seconds)
            lookup.missing = [i for i, entry in enumerate(entries) if entry is None]
            lookup.found = [None if entry is None else entry[1] for entry in entries]
        if lookup.missing:
            missed_keys = [keys[i] for i in lookup.missing if i < len(keys)]
            missed_units = {units[i] for i in lookup.missing[len(missed_keys) :]}
            missed_reads: list[FieldRead] = [
                ([h for h in hashes if (h, fields.serial) in missed_units], fields) for hashes, fields in field_reads
            ]
            lookup.call = (missed_keys, missed_reads)
        return lookup

    def _complete(self, lookup: _Lookup, outcome: _Outcome | None) -> tuple[Values, list[Values]]:
        """The values of every unit: from the cache, the store's answer, or the cache as a fallback."""
        cache, found, missing, units, names = self.cache, lookup.found, lookup.missing, lookup.units, lookup.names
        fallbacks = 0
        if isinstance(outcome, OnlineStoreUnavailableError):
            usable_after = lookup.now - cache.fallback_seconds if cache is not None else 0.0
            for i in missing:
                entry = cache.get(units[i], usable_after) if cache is not None and cache.fallback_seconds > 0 else None
                if entry is None:
                    self.unavailable.add(names[i])
                else:
                    found[i] = entry[1]
                    self.cached.add(names[i])
                    fallbacks += 1
        elif outcome is not None and lookup.call is not None:
            fetched = [*outcome[0], *_per_hash(outcome[1], lookup.call[1])]
            for i, value in zip(missing, fetched, strict=True):
                found[i] = value
            if cache is not None:
                cache.put_many([(units[i], value) for i, value in zip(missing, fetched, strict=True)], lookup.now)
        if cache is not None:
            self.on_lookup(len(units) - len(missing), len(missing), fallbacks)
        windows, at = [], len(lookup.keys)
        for hashes, fields in lookup.field_reads:
            flat: Values = []
            for per_hash in found[at : at + len(hashes)]:
                flat += [None] * len(fields) if per_hash is None else per_hash
            windows.append(flat)
            at += len(hashes)
        return found[: len(lookup.keys)], windows

    def put_many(self, items: Sequence[tuple[bytes, bytes]], *, ttl_seconds: int | None = None) -> None:
        self.store.put_many(items, ttl_seconds=ttl_seconds)

    def delete_many(self, keys: Sequence[bytes]) -> None:
        self.store.delete_many(keys)

    def close(self) -> None:
        pass


def _per_hash(windows: Sequence[Values], field_reads: Sequence[FieldRead]) -> list[tuple[bytes | None, ...]]:
    """Each field read's flat values cut back into one tuple per hash (a tuple of bytes, unlike a
    list, drops out of the garbage collector's tracking: a full cache holds ~100k of them)."""
    out: list[tuple[bytes | None, ...]] = []
    for flat, (hashes, fields) in zip(windows, field_reads, strict=True):
        width = len(fields)
        out += [tuple(flat[j * width : (j + 1) * width]) for j in range(len(hashes))]
    return out
