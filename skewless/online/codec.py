"""Feature rows as compact bytes: a schema id, the event time, then the values (msgpack).

Timestamps travel as µs since the epoch (read back as UTC datetimes); embeddings as raw float32
bytes (decoded with one ``np.frombuffer``, no per-element work).
The schema id changes whenever the view's features or types change, so a reader never decodes a
value written under another layout: it reads as missing until rewritten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgpack
import numpy as np

from skewless.definitions.field import Field
from skewless.definitions.types import Embedding, Timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RowCodec:
    def __init__(self, view_name: str, version: int, features: Sequence[Field]) -> None:
        self.features = tuple(features)
        layout = f"{view_name}@v{version}:" + ",".join(f"{f.name}:{f.dtype}" for f in self.features)
        self.schema_id = int.from_bytes(hashlib.blake2b(layout.encode(), digest_size=4).digest(), "big")
        self._embeddings = [i for i, f in enumerate(self.features) if isinstance(f.dtype, Embedding)]
        self._timestamps = [i for i, f in enumerate(self.features) if f.dtype == Timestamp]

    def encode(self, event_ts_us: int, values: Sequence[Any]) -> bytes:
        """``values`` in feature order; None for a missing value."""
        row = list(values)
        for i in self._embeddings:
            if row[i] is not None:
                row[i] = np.asarray(row[i], dtype=np.float32).tobytes()
        for i in self._timestamps:  # as µs since the epoch, UTC
            if isinstance(row[i], datetime):
                moment = row[i] if row[i].tzinfo else row[i].replace(tzinfo=UTC)
                row[i] = (moment - _EPOCH) // timedelta(microseconds=1)
        return msgpack.packb([self.schema_id, int(event_ts_us), *row], use_bin_type=True)  # type: ignore[no-any-return]

    def decode_raw(self, data: bytes) -> list[Any] | None:
        """The stored row as written, ``[schema_id, event_ts_us, *values]`` with embeddings as float32
        bytes and timestamps as µs, or None if written under another layout. Online reads convert
        whole columns, only those they return, and slice nothing per row."""
        row: list[Any] = msgpack.unpackb(data, raw=False)
        if not row or row[0] != self.schema_id:
            return None
        return row

    def decode(self, data: bytes) -> tuple[int, list[Any]] | None:
        """``(event_ts_us, values)``, or None if the bytes were written under another layout."""
        row = self.decode_raw(data)
        if row is None:
            return None
        values = row[2:]
        for i in self._embeddings:
            if values[i] is not None:
                values[i] = np.frombuffer(values[i], dtype=np.float32)
        for i in self._timestamps:
            if values[i] is not None:
                values[i] = _EPOCH + timedelta(microseconds=values[i])
        return row[1], values
