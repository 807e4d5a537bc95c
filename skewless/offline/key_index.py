"""Integer keys to dense indexes, for events in bulk (pure; numba)."""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]


class KeyIndex:
    """Integer keys -> their index ``0..n-1`` (-1 for a key not in the set), so mapping a batch of
    events to the rows' keys costs one probe per event: a direct table when the keys are dense
    (sequential ids), else an open-addressing hash table."""

    def __init__(self, keys: I64) -> None:
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        self.low = int(keys.min()) if len(keys) else 0
        span = int(keys.max()) - self.low + 1 if len(keys) else 0
        self.dense = span <= 8 * len(keys) + 1024
        if self.dense:
            self.slots = np.full(span, -1, dtype=np.int64)
            self.slots[keys - self.low] = np.arange(len(keys))
            self.keys = keys
        else:
            capacity = 1 << max(4, int(2 * len(keys) - 1).bit_length())
            self.slots = np.full(capacity, -1, dtype=np.int64)
            self.keys = np.zeros(capacity, dtype=np.int64)
            _insert(self.slots, self.keys, keys)

    def lookup(self, values: I64) -> I64:
        values = np.ascontiguousarray(values, dtype=np.int64)
        if self.dense:
            return _lookup_dense(self.slots, self.low, values)  # type: ignore[no-any-return]
        return _lookup(self.slots, self.keys, values)  # type: ignore[no-any-return]


@numba.njit(cache=True, nogil=True)
def _lookup_dense(slots, low, values):  # type: ignore[no-untyped-def]
    found = np.empty(values.shape[0], dtype=np.int64)
    for i in range(values.shape[0]):
        at = values[i] - low
        found[i] = slots[at] if 0 <= at < slots.shape[0] else -1
    return found


@numba.njit(cache=True, inline="always")
def _home(value: int, mask: int) -> int:
    return ((value * -7046029254386353131) >> 17) & mask  # Fibonacci hashing (2^64 / golden ratio)


@numba.njit(cache=True, nogil=True)
def _insert(slots, keys, values):  # type: ignore[no-untyped-def]
    mask = slots.shape[0] - 1
    for index in range(values.shape[0]):
        at = _home(values[index], mask)
        while slots[at] >= 0:
            at = (at + 1) & mask
        slots[at] = index
        keys[at] = values[index]


@numba.njit(cache=True, nogil=True)
def _lookup(slots, keys, values):  # type: ignore[no-untyped-def]
    mask = slots.shape[0] - 1
    found = np.empty(values.shape[0], dtype=np.int64)
    for i in range(values.shape[0]):
        at = _home(values[i], mask)
        found[i] = -1
        while slots[at] >= 0:
            if keys[at] == values[i]:
                found[i] = slots[at]
                break
            at = (at + 1) & mask
    return found
