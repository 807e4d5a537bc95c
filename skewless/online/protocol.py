"""The online store's contract: bytes in, bytes out, many keys per round trip.

Layout (which key holds which entity's features) and encoding (how a row becomes bytes) are pure
modules above this protocol (``keys``, ``codec``, ``tile_keys``), so every backend stores exactly
the same bytes and one contract suite covers them all.

Two kinds of reads: whole values by key (an entity's row), and fields of hashes (an entity's
tiles, see :mod:`skewless.online.tile_keys`). A request does both in one :meth:`OnlineStore.read`:
one round trip per Redis node.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count
from typing import Any, Protocol

_SERIALS = count()


class FieldSet:
    """The fields a read asks of each of its hashes. Made once per read plan and reused by the
    requests that follow, so a backend may keep their encoding (``encoded``) and a cache may key
    entries by its ``serial`` (unique in the process: two sets are the same only if they are the
    same object; an int keeps a cache's keys out of the garbage collector's way)."""

    __slots__ = ("encoded", "names", "serial")

    def __init__(self, names: Sequence[bytes]) -> None:
        self.names = tuple(names)
        self.encoded: dict[str, Any] = {}
        self.serial = next(_SERIALS)

    def __len__(self) -> int:
        return len(self.names)


FieldRead = tuple[Sequence[bytes], FieldSet]  # (hash keys, the fields asked of each)
Values = list[bytes | None]


class OnlineStore(Protocol):
    def get_many(self, keys: Sequence[bytes]) -> Values:
        """The values of ``keys`` in order (None where absent or expired), in as few round trips as
        the backend allows: one per Redis node, none for the embedded store."""
        ...

    def read(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        """``get_many(keys)`` and, per field read, the values of its fields in each of its hashes
        (hash by hash, flat: ``len(hashes) * len(fields)`` values, None where absent), together."""
        ...

    def put_many(self, items: Sequence[tuple[bytes, bytes]], *, ttl_seconds: int | None = None) -> None:
        """Write values; with ``ttl_seconds`` they expire (and read as absent) after that long."""
        ...

    def delete_many(self, keys: Sequence[bytes]) -> None: ...

    def close(self) -> None: ...
