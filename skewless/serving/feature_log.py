"""Logging served feature vectors, sampled and off the hot path, into the offline store.

A request thread only decides (one random draw) and, if sampled, puts a reference to the
response on a bounded queue; a background thread turns batches of responses into Arrow and
appends them to ``<offline>/_feature_log/<feature set>`` (Delta, columns added as services
change). When the queue is full the response is dropped and counted, never waited for: logging
must not add latency. Training data can then be built from what was actually served
(:func:`training_data_from_log`), the strongest check against skew there is.
"""

from __future__ import annotations

import queue
import random
import re
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from skewless.errors import OfflineStoreError

LOG_DIR: Final = "_feature_log"
REQUEST_ID: Final = "request_id"
SERVED_AT: Final = "served_at"
_IDLE: Final[tuple[str, str, int, dict[str, Any]]] = ("", "", 0, {})  # a queue timeout: flush if due


class FeatureLogger:
    def __init__(
        self, offline_root: str | Path, *, sample_rate: float, queue_size: int = 1_000, flush_rows: int = 10_000, flush_seconds: float = 1.0
    ) -> None:
        self.root = Path(offline_root) / LOG_DIR
        self.sample_rate, self.flush_rows, self.flush_seconds = sample_rate, flush_rows, flush_seconds
        self.dropped = 0
        self.logged_rows = 0
        self._queue: queue.Queue[tuple[str, str, int, dict[str, Any]] | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def log(self, feature_set: str, columns: dict[str, Any], *, request_id: str | None = None) -> str | None:
        """Maybe log one response (join keys, request values and features as columns); returns the
        request id it was logged under, or None when not sampled or dropped."""
        if self.sample_rate <= 0 or (self.sample_rate < 1 and random.random() >= self.sample_rate):
            return None
        rid = request_id or uuid.uuid4().hex
        try:
            self._queue.put_nowait((feature_set, rid, time.time_ns() // 1000, columns))
        except queue.Full:
            self.dropped += 1
            return None
        self._ensure_thread()
        return rid

    def flush(self, timeout: float = 30.0) -> None:
        """Write everything queued so far and stop the writer thread (it restarts on the next log)."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)
        self._thread = None

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="skewless-feature-log", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        pending: dict[str, list[pa.Table]] = {}
        rows, started, stop = 0, time.monotonic(), False
        while not stop:
            try:
                item = self._queue.get(timeout=self.flush_seconds)
            except queue.Empty:
                item = _IDLE
            if item is None:
                stop = True
            elif item is not _IDLE:
                feature_set, rid, served_at, columns = item
                table = response_table(columns, rid, served_at)
                pending.setdefault(feature_set, []).append(table)
                rows += table.num_rows
            if pending and (stop or rows >= self.flush_rows or time.monotonic() - started >= self.flush_seconds):
                for feature_set, tables in pending.items():
                    self._write(feature_set, tables)
                pending, rows, started = {}, 0, time.monotonic()

    def _write(self, feature_set: str, tables: list[pa.Table]) -> None:
        table = pa.concat_tables(tables, promote_options="permissive")
        path = self.root / folder_of(feature_set)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_deltalake(str(path), table, mode="append", schema_mode="merge")
        self.logged_rows += table.num_rows


def response_table(columns: dict[str, list[Any]], request_id: str, served_at_us: int) -> pa.Table:
    """One row per entity row of a response, tagged with the request and when it was served."""
    n = len(next(iter(columns.values()))) if columns else 0
    arrays: dict[str, Any] = {
        REQUEST_ID: pa.array([request_id] * n, pa.string()),
        SERVED_AT: pa.array(np.full(n, served_at_us), pa.timestamp("us", tz="UTC")),
    }
    for name, values in columns.items():
        arrays[name] = _array(values)
    return pa.table(arrays)


def _array(values: Sequence[Any]) -> pa.Array:
    if isinstance(values, np.ndarray):
        return pa.array(list(values)) if values.ndim > 1 else pa.array(values)
    return pa.array([v.tolist() if isinstance(v, np.ndarray) else v for v in values])


def folder_of(feature_set: str) -> str:
    """A feature set's folder: a service's name as is, a list of views made path-safe."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", feature_set)


def read_feature_log(offline_root: str | Path, feature_set: str) -> pa.Table:
    path = Path(offline_root) / LOG_DIR / folder_of(feature_set)
    if not (path / "_delta_log").exists():
        raise OfflineStoreError(
            f"no feature log for {feature_set!r} yet", hint="serve with serving.log_sample_rate > 0 (or log responses with FeatureLogger)"
        )
    return DeltaTable(str(path)).to_pyarrow_table()


def training_data_from_log(offline_root: str | Path, feature_set: str, labels: pa.Table, *, on: Sequence[str]) -> pa.Table:
    """``labels`` joined to the feature values that were served: on ``request_id`` plus the join
    keys ``on`` (one label per served entity row)."""
    logged = read_feature_log(offline_root, feature_set)
    keys = [REQUEST_ID, *on]
    missing = [k for k in keys if k not in labels.column_names]
    if missing:
        raise OfflineStoreError(f"labels lack {', '.join(missing)}", hint=f"labels need {', '.join(keys)} to meet the log")
    import duckdb

    # DuckDB rather than Arrow's join: logged embeddings are list columns, which Arrow cannot carry through a join.
    using = ", ".join(f'"{k}"' for k in keys)
    connection = duckdb.connect()
    connection.register("labels", labels)
    connection.register("logged", logged)
    return connection.sql(f"SELECT * FROM labels JOIN logged USING ({using})").to_arrow_table()
