"""OfflineTables: Delta tables per source, atomic appends, time travel, schema evolution, maintenance."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skewless import BatchSource, Embedding, Field, Float64, Int64, StreamSource, String
from skewless.errors import DataValidationError, OfflineStoreError
from skewless.offline import OfflineTables, source_schema

T0 = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
EVENTS = StreamSource(
    name="events",
    schema=[
        Field(name="user_id", dtype=Int64),
        Field(name="clicks", dtype=Int64),
        Field(name="dwell", dtype=Float64),
        Field(name="embedding", dtype=Embedding(2)),
        Field(name="event_id", dtype=String),
    ],
    event_id_field="event_id",
)
WRITE_COLUMNS = ["_event_date", "_ingested_at", "_write_seq"]


def events(n: int, *, start: int = 0, hours: int = 1) -> pa.Table:
    ids = range(start, start + n)
    return pa.table(
        {
            "user_id": [i % 7 for i in ids],
            "clicks": list(ids),
            "dwell": [i / 4 for i in ids],
            "embedding": [[float(i), 1.0] for i in ids],
            "event_id": [f"e{i}" for i in ids],
            "event_timestamp": [T0 + timedelta(hours=hours * i) for i in ids],
        }
    )


def sorted_rows(table: pa.Table, columns: list[str] | None = None) -> list[dict[str, Any]]:
    table = table.select(columns or [c for c in table.column_names if c not in WRITE_COLUMNS])
    return sorted(table.to_pylist(), key=lambda r: (r.get("event_id"), r.get("clicks")))


@pytest.fixture
def tables(tmp_path: Path) -> OfflineTables:
    return OfflineTables(tmp_path / "offline")


def data_files(tables: OfflineTables, name: str) -> set[Path]:
    return {p for p in tables.path(name).rglob("*.parquet") if "_delta_log" not in p.parts}


@pytest.mark.parametrize("kind", ["pyarrow", "pandas", "polars"])
def test_round_trip(tables: OfflineTables, kind: str) -> None:
    data = events(50)
    given: Any = {"pyarrow": data, "pandas": data.to_pandas(), "polars": pl.from_arrow(data)}[kind]
    result = tables.append(EVENTS, given, key_columns=["user_id"])
    assert (result.version, result.rows) == (0, 50)
    back = tables.read("events")
    assert back.schema.names == [*source_schema(EVENTS).names, *WRITE_COLUMNS]
    assert back.select(source_schema(EVENTS).names).schema == source_schema(EVENTS)
    assert sorted_rows(back) == sorted_rows(data.cast(source_schema(EVENTS)))


def test_write_columns(tables: OfflineTables) -> None:
    tables.append(EVENTS, events(30))
    back = tables.read("events")
    days = {r["event_timestamp"].date() for r in back.select(["event_timestamp"]).to_pylist()}
    assert set(back.column("_event_date").to_pylist()) == days  # UTC date of the event
    assert len(set(back.column("_ingested_at").to_pylist())) == 1  # one instant per write
    assert sorted(back.column("_write_seq").to_pylist()) == list(range(30))
    assert {p.parent.name for p in data_files(tables, "events")} == {f"_event_date={d}" for d in days}


def test_write_seq_increases_strictly_across_writes(tables: OfflineTables) -> None:
    for i in range(3):
        tables.append(EVENTS, events(20, start=20 * i))
    seqs = tables.read("events").sort_by("clicks").column("_write_seq").to_pylist()  # clicks = order written
    assert seqs == sorted(seqs) and len(set(seqs)) == 60
    assert [seqs[20 * i] >> 32 for i in range(3)] == [0, 1, 2]  # the Delta version in the high bits


def test_version_and_time_travel(tables: OfflineTables) -> None:
    assert tables.version("events") is None
    first = tables.append(EVENTS, events(10))
    second = tables.append(EVENTS, events(5, start=10))
    assert (first.version, second.version, tables.version("events")) == (0, 1, 1)
    assert tables.read("events", version=0).num_rows == 10
    assert tables.read("events").num_rows == 15
    assert [c.version for c in tables.history("events")] == [1, 0]
    assert [c.rows_added for c in tables.history("events")] == [5, 10]
    with pytest.raises(OfflineStoreError, match="has no version 7"):
        tables.read("events", version=7)


def test_reading_a_source_never_written(tables: OfflineTables) -> None:
    with pytest.raises(OfflineStoreError, match="no offline data yet"):
        tables.read("events")


def test_time_range_and_columns(tables: OfflineTables) -> None:
    tables.append(EVENTS, events(48))  # one event an hour from 23:00 on day one
    window = tables.read("events", start=T0 + timedelta(hours=5), end=T0 + timedelta(hours=10), columns=["clicks"])
    assert window.column_names == ["clicks"]
    assert sorted(window.column("clicks").to_pylist()) == [5, 6, 7, 8, 9]
    naive = tables.read("events", start=(T0 + timedelta(hours=40)).replace(tzinfo=None))
    assert sorted(naive.column("clicks").to_pylist()) == list(range(40, 48))


def test_schema_evolution_old_rows_read_as_null(tables: OfflineTables) -> None:
    tables.append(EVENTS, events(3))
    evolved = StreamSource(name="events", schema=[*EVENTS.schema, Field(name="device", dtype=String)], event_id_field="event_id")
    with pytest.raises(DataValidationError, match="unknown column 'device'"):
        tables.append(EVENTS, events(2, start=3).append_column("device", pa.array(["ios", "web"])))
    tables.append(evolved, events(2, start=3).append_column("device", pa.array(["ios", "web"])))
    back = sorted_rows(tables.read("events"), ["clicks", "device"])
    assert back == [
        {"clicks": 0, "device": None},
        {"clicks": 1, "device": None},
        {"clicks": 2, "device": None},
        {"clicks": 3, "device": "ios"},
        {"clicks": 4, "device": "web"},
    ]
    assert tables.read("events", version=0).column_names.count("device") == 0


def test_a_column_type_change_is_refused_not_silently_cast(tables: OfflineTables) -> None:
    tables.append(EVENTS, events(3))
    changed = StreamSource(
        name="events",
        schema=[Field(name="clicks", dtype=Float64) if f.name == "clicks" else f for f in EVENTS.schema],
        event_id_field="event_id",
    )
    with pytest.raises(OfflineStoreError, match="'clicks' is stored as int64"):
        tables.append(changed, events(1, start=3).set_column(1, "clicks", pa.array([1.5])))
    assert tables.version("events") == 0


def test_invalid_rows_write_nothing(tables: OfflineTables) -> None:
    tables.append(EVENTS, events(5))
    before = data_files(tables, "events")
    bad = events(5, start=5).to_pandas()
    bad.loc[4, "event_timestamp"] = None
    with pytest.raises(DataValidationError, match="row 4: event_timestamp"):
        tables.append(EVENTS, bad)
    assert tables.version("events") == 0
    assert data_files(tables, "events") == before  # validated before any file was written


def test_a_stream_failing_midway_commits_nothing(tables: OfflineTables) -> None:
    tables.append(EVENTS, events(5))
    bad = events(3, start=20).to_pandas()
    bad.loc[1, "event_id"] = None
    with pytest.raises(DataValidationError, match="row 101: event_id"):
        tables.append_batches(EVENTS, [events(100, start=5), bad])
    assert tables.version("events") == 0
    assert tables.read("events").num_rows == 5
    result = tables.append_batches(EVENTS, [events(100, start=5), events(3, start=200)])
    assert (result.version, result.rows, tables.read("events").num_rows) == (1, 103, 108)


def test_files_are_what_read_returns(tables: OfflineTables) -> None:
    tables.append(EVENTS, events(30))
    tables.append(EVENTS, events(30, start=30))
    files = tables.files("events")
    assert files and all(os.path.isabs(f) and os.path.exists(f) for f in files)
    from_files = pa.concat_tables(pq.read_table(f) for f in files)
    expected = tables.read("events").drop_columns(["_event_date"])  # the partition lives in the path
    assert sorted_rows(from_files) == sorted_rows(expected)
    assert sorted(tables.files("events", version=0)) != sorted(files)
    listed = ", ".join(f"'{f}'" for f in files)
    query = f"SELECT count(*), count(DISTINCT _write_seq), count(DISTINCT _event_date) FROM read_parquet([{listed}])"
    [(count, seqs, days)] = duckdb.connect().execute(query).fetchall()
    assert count == seqs == 60
    assert days == len(set(expected.column("event_timestamp").cast(pa.date32()).to_pylist()))  # hive paths


def test_compact_keeps_the_rows_in_fewer_files(tables: OfflineTables) -> None:
    for i in range(4):
        tables.append(EVENTS, events(10, start=10 * i, hours=0))  # all on one day
    before = tables.read("events")
    assert len(tables.files("events")) == 4
    result = tables.compact("events")
    assert (result.version, result.files_removed, result.files_added) == (4, 4, 1)
    assert len(tables.files("events")) == 1
    after = tables.read("events")
    assert sorted_rows(after, after.column_names) == sorted_rows(before, before.column_names)  # _write_seq too


def test_vacuum_deletes_replaced_files_and_old_versions_become_unreadable(tables: OfflineTables) -> None:
    for i in range(3):
        tables.append(EVENTS, events(10, start=10 * i, hours=0))
    tables.compact("events")
    assert tables.vacuum("events") == []  # within the time-travel window: nothing is old enough
    assert tables.read("events", version=0).num_rows == 10
    deleted = tables.vacuum("events", retention_hours=0)
    assert len(deleted) == 3 and not any(os.path.exists(p) for p in deleted)
    assert data_files(tables, "events") == {Path(f) for f in tables.files("events")}
    assert tables.read("events").num_rows == 30
    with pytest.raises(OfflineStoreError, match="files of version 0 are gone"):
        tables.read("events", version=0)


def test_batch_sources_and_created_timestamps(tables: OfflineTables) -> None:
    profiles = BatchSource(name="profiles", schema=[Field(name="user_id", dtype=Int64)], created_timestamp_field="created")
    frame = pd.DataFrame({"user_id": [1, 2], "event_timestamp": [T0, T0], "created": [T0, None]})
    tables.append(profiles, frame, key_columns=["user_id"])
    assert tables.read("profiles").column("created").to_pylist() == [T0, None]


def test_reserved_column_names_are_refused(tables: OfflineTables) -> None:
    clashing = BatchSource(name="clash", schema=[Field(name="user_id", dtype=Int64), Field(name="_write_seq", dtype=Int64)])
    frame = pd.DataFrame({"user_id": [1], "_write_seq": [5], "event_timestamp": [T0]})
    with pytest.raises(OfflineStoreError, match="'_write_seq' are reserved"):
        tables.append(clashing, frame)
    assert tables.version("clash") is None


def test_an_already_validated_table_is_written_as_is_and_anything_else_is_still_checked(tables: OfflineTables) -> None:
    from skewless.offline.validate import validate_rows

    checked = validate_rows(EVENTS, events(3))
    assert tables.append(EVENTS, checked, validated=True).rows == 3
    assert sorted_rows(tables.read("events")) == sorted_rows(checked)
    bad = events(2).to_pandas().assign(user_id=[None, 1])  # not validate_rows' output: validated anyway
    with pytest.raises(DataValidationError, match="user_id"):
        tables.append(EVENTS, bad, validated=True, key_columns=["user_id"])
    assert tables.version("events") == 0


def test_a_writer_keeps_its_table_and_sees_what_others_wrote_since(tables: OfflineTables) -> None:
    """A writer reads only the commits since its last write: other writers' commits, a compaction,
    or the table removed meanwhile all end in consecutive versions holding every row written."""
    other = OfflineTables(tables.root)
    assert tables.append(EVENTS, events(10)).version == 0
    assert other.append(EVENTS, events(5, start=10)).version == 1
    assert tables.append(EVENTS, events(5, start=15)).version == 2
    other.compact("events")  # version 3
    assert tables.append(EVENTS, events(5, start=20)).version == 4
    assert sorted_rows(tables.read("events")) == sorted_rows(events(25).cast(source_schema(EVENTS)))
    seqs = tables.read("events").column("_write_seq").to_pylist()
    assert len(set(seqs)) == 25

    shutil.rmtree(tables.path("events"))  # removed by hand: the next write starts a new table
    assert tables.append(EVENTS, events(3, start=100)).version == 0
    assert sorted_rows(tables.read("events")) == sorted_rows(events(3, start=100).cast(source_schema(EVENTS)))
    shutil.rmtree(tables.path("events"))  # removed, and written again by another writer up to the same version
    other.append(EVENTS, events(2, start=200))
    assert tables.append(EVENTS, events(2, start=300)).version == 1
    assert tables.read("events").num_rows == 4
