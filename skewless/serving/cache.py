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
The cache is used from the event loop only (one thread), so it needs no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from skewless.errors import OnlineStoreUnavailableError
from skewless.online.protocol import OnlineStore

Entry = tuple[float, bytes | None]  # (monotonic time it was read, stored value or None if absent)


class RowCache:
    def __init__(self, *, max_entries: int, staleness_seconds: float, fallback_seconds: float) -> None:
        self.max_entries = max_entries
        self.staleness_seconds = staleness_seconds
        self.fallback_seconds = max(fallback_seconds, staleness_seconds)
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes, read_after: float) -> Entry | None:
        """The entry of ``key`` if it was read after ``read_after`` (monotonic seconds)."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < read_after:
            return None
        self._entries.move_to_end(key)
        return entry

    def get_many(self, keys: Sequence[bytes], read_after: float) -> list[Entry | None]:
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

    def put_many(self, items: Sequence[tuple[bytes, bytes | None]], now: float) -> None:
        entries = self._entries
        touch = entries.move_to_end
        for key, value in items:
            entries[key] = (now, value)
            touch(key)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)

    def put(self, key: bytes, value: bytes | None, now: float) -> None:
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

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        cache = self.cache
        if cache is None:
            try:
                return self._read(keys)
            except OnlineStoreUnavailableError:
                self.unavailable.update(keys)
                return [None] * len(keys)
        now = time.monotonic()
        values: list[bytes | None] = [None] * len(keys)
        missing = list(range(len(keys)))
        if cache.staleness_seconds > 0:
            found = cache.get_many(keys, now - cache.staleness_seconds)
            missing = [i for i, entry in enumerate(found) if entry is None]
            values = [None if entry is None else entry[1] for entry in found]
        fallbacks = 0
        if missing:
            try:
                fetched = self._read([keys[i] for i in missing])
            except OnlineStoreUnavailableError:
                usable_after = now - cache.fallback_seconds
                for i in missing:
                    entry = cache.get(keys[i], usable_after) if cache.fallback_seconds > 0 else None
                    if entry is None:
                        self.unavailable.add(keys[i])
                    else:
                        values[i] = entry[1]
                        self.cached.add(keys[i])
                        fallbacks += 1
            else:
                for i, value in zip(missing, fetched, strict=True):
                    values[i] = value
                cache.put_many([(keys[i], value) for i, value in zip(missing, fetched, strict=True)], now)
        self.on_lookup(len(keys) - len(missing), len(missing), fallbacks)
        return values

    def _read(self, keys: Sequence[bytes]) -> list[bytes | None]:
        started = time.perf_counter()
        try:
            return self.store.get_many(keys)
        finally:
            self.on_read(time.perf_counter() - started)

    def put_many(self, items: Sequence[tuple[bytes, bytes]], *, ttl_seconds: int | None = None) -> None:
        self.store.put_many(items, ttl_seconds=ttl_seconds)

    def delete_many(self, keys: Sequence[bytes]) -> None:
        self.store.delete_many(keys)

    def close(self) -> None:
        pass
