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
hash, under (hash key, field set): a read plan asks new fields each base tile, so a window's
tiles are never older than the staleness either.
The cache is used from the event loop only (one thread), so it needs no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from skewless.errors import OnlineStoreUnavailableError
from skewless.online.protocol import FieldRead, OnlineStore, Values

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
        # Each thing asked is a unit: a key, or a hash with the fields asked of it; ``names[i]`` is
        # what statuses know it by (the key, the hash's key).
        units: list[Hashable] = [*keys, *((h, fields) for hashes, fields in field_reads for h in hashes)]
        names = [*keys, *(h for hashes, _ in field_reads for h in hashes)]
        found = self._units(units, names, keys, field_reads)
        windows, at = [], len(keys)
        for hashes, fields in field_reads:
            flat: Values = []
            for per_hash in found[at : at + len(hashes)]:
                flat += [None] * len(fields) if per_hash is None else per_hash
            windows.append(flat)
            at += len(hashes)
        return found[: len(keys)], windows

    def _units(self, units: list[Hashable], names: list[bytes], keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> list[Any]:
        cache = self.cache
        if cache is None:
            try:
                values, windows = self._read(keys, field_reads)
            except OnlineStoreUnavailableError:
                self.unavailable.update(names)
                return [None] * len(units)
            return [*values, *_per_hash(windows, field_reads)]
        now = time.monotonic()
        found: list[Any] = [None] * len(units)
        missing = list(range(len(units)))
        if cache.staleness_seconds > 0:
            entries = cache.get_many(units, now - cache.staleness_seconds)
            missing = [i for i, entry in enumerate(entries) if entry is None]
            found = [None if entry is None else entry[1] for entry in entries]
        fallbacks = 0
        if missing:
            missed_keys = [keys[i] for i in missing if i < len(keys)]
            missed_units = {units[i] for i in missing[len(missed_keys) :]}
            missed_reads = [([h for h in hashes if (h, fields) in missed_units], fields) for hashes, fields in field_reads]
            try:
                values, windows = self._read(missed_keys, missed_reads)
            except OnlineStoreUnavailableError:
                usable_after = now - cache.fallback_seconds
                for i in missing:
                    entry = cache.get(units[i], usable_after) if cache.fallback_seconds > 0 else None
                    if entry is None:
                        self.unavailable.add(names[i])
                    else:
                        found[i] = entry[1]
                        self.cached.add(names[i])
                        fallbacks += 1
            else:
                fetched = [*values, *_per_hash(windows, missed_reads)]
                for i, value in zip(missing, fetched, strict=True):
                    found[i] = value
                cache.put_many([(units[i], value) for i, value in zip(missing, fetched, strict=True)], now)
        self.on_lookup(len(units) - len(missing), len(missing), fallbacks)
        return found

    def _read(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        started = time.perf_counter()
        try:
            return self.store.read(keys, field_reads)
        finally:
            self.on_read(time.perf_counter() - started)

    def put_many(self, items: Sequence[tuple[bytes, bytes]], *, ttl_seconds: int | None = None) -> None:
        self.store.put_many(items, ttl_seconds=ttl_seconds)

    def delete_many(self, keys: Sequence[bytes]) -> None:
        self.store.delete_many(keys)

    def close(self) -> None:
        pass


def _per_hash(windows: Sequence[Values], field_reads: Sequence[FieldRead]) -> list[Values]:
    """Each field read's flat values cut back into one list per hash."""
    out: list[Values] = []
    for flat, (hashes, fields) in zip(windows, field_reads, strict=True):
        width = len(fields)
        out += [flat[j * width : (j + 1) * width] for j in range(len(hashes))]
    return out
