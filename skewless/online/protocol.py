"""The online store's contract: bytes in, bytes out, many keys per round trip.

Layout (which key holds which entity's features) and encoding (how a row becomes bytes) are pure
modules above this protocol (``keys``, ``codec``), so every backend stores exactly the same
bytes and one contract suite covers them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class OnlineStore(Protocol):
    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """The values of ``keys`` in order (None where absent or expired), in as few round trips as
        the backend allows: one per Redis node, none for the embedded store."""
        ...

    def put_many(self, items: Sequence[tuple[bytes, bytes]], *, ttl_seconds: int | None = None) -> None:
        """Write values; with ``ttl_seconds`` they expire (and read as absent) after that long."""
        ...

    def delete_many(self, keys: Sequence[bytes]) -> None: ...

    def close(self) -> None: ...
