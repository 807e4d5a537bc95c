"""Where refused events go: a Delta table beside the sources (``<offline>/_dead_letters``).

Invalid and late events land here with their reason, so nothing an upstream system sent is
silently dropped and late events stay out of the source tables, hence out of training data,
exactly as they stay out of the online tiles. The bus worker also copies them to a dead-letter
stream for operators watching Redis.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from skewless.streaming.events import DeadLetter

TABLE: Final = "_dead_letters"
SCHEMA: Final = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("payload", pa.string()),
        pa.field("received_at", pa.timestamp("us", tz="UTC")),
    ]
)


class DeadLetterTable:
    def __init__(self, offline_root: str | Path) -> None:
        self.path = Path(offline_root) / TABLE

    def append(self, letters: Sequence[DeadLetter], *, transaction: tuple[str, int] | None = None, check: bool = True) -> None:
        """Add dead letters; with ``transaction=(writer, batch)`` the batch is recorded, and skipped if
        ``check`` finds it already written (pass ``check=False`` for a batch never handed out before)."""
        if not letters:
            return
        properties = None
        if transaction is not None:
            app_id, batch = transaction
            if check and (self.path / "_delta_log").exists() and (DeltaTable(str(self.path)).transaction_version(app_id) or -1) >= batch:
                return
            properties = CommitProperties(app_transactions=[Transaction(app_id, batch)])
        now = time.time_ns() // 1000
        table = pa.table(
            {
                "source": [d.source for d in letters],
                "kind": [d.kind for d in letters],
                "reason": [d.reason for d in letters],
                "payload": [d.payload for d in letters],
                "received_at": pa.array([now] * len(letters), pa.timestamp("us", tz="UTC")),
            },
            schema=SCHEMA,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_deltalake(str(self.path), table, mode="append", commit_properties=properties)

    def read(self, source: str | None = None) -> pa.Table:
        if not (self.path / "_delta_log").exists():
            return SCHEMA.empty_table()
        table = DeltaTable(str(self.path)).to_pyarrow_table()
        if source is not None:
            table = table.filter(pa.compute.equal(table.column("source"), source))
        return table

    def counts(self) -> dict[tuple[str, str], int]:
        """(source, kind) -> how many dead letters."""
        table = self.read()
        result: dict[tuple[str, str], int] = {}
        for source, kind in zip(table.column("source").to_pylist(), table.column("kind").to_pylist(), strict=True):
            result[(source, kind)] = result.get((source, kind), 0) + 1
        return result
