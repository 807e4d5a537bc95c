"""validate_rows: exact Arrow schema out of pyarrow / pandas / polars, or a report naming rows and columns."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from skewless import Array, Bool, Embedding, Field, Float32, Float64, Int64, StreamSource, String
from skewless.errors import DataValidationError
from skewless.offline.validate import source_schema, validate_rows

SOURCE = StreamSource(
    name="events",
    schema=[
        Field(name="user_id", dtype=Int64),
        Field(name="clicks", dtype=Int64),
        Field(name="dwell", dtype=Float32),
        Field(name="score", dtype=Float64),
        Field(name="country", dtype=String),
        Field(name="liked", dtype=Bool),
        Field(name="topics", dtype=Array(String)),
        Field(name="embedding", dtype=Embedding(3)),
        Field(name="event_id", dtype=String),
    ],
    event_id_field="event_id",
)
KEYS = ["user_id"]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def rows(n: int = 4) -> dict[str, list[Any]]:
    return {
        "user_id": list(range(n)),
        "clicks": [i % 3 for i in range(n)],
        "dwell": [1.5 * i for i in range(n)],
        "score": [0.25 * i for i in range(n)],
        "country": ["fr", "us", None, "de"][:n] + ["fr"] * max(0, n - 4),
        "liked": [True, False, None, True][:n] + [False] * max(0, n - 4),
        "topics": [["a", "b"], [], None, ["c"]][:n] + [["d"]] * max(0, n - 4),
        "embedding": [[0.1, 0.2, 0.3], None, [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]][:n] + [[1.0, 1.0, 1.0]] * max(0, n - 4),
        "event_id": [f"e{i}" for i in range(n)],
        "event_timestamp": [T0.replace(minute=i % 60) for i in range(n)],
    }


def invalid(data: Any, **kwargs: Any) -> DataValidationError:
    with pytest.raises(DataValidationError) as err:
        validate_rows(SOURCE, data, key_columns=KEYS, **kwargs)
    return err.value


def reason(exc: DataValidationError, row: int, column: str) -> str:
    found = [r for (n, c, r) in exc.problems if (n, c) == (row, column)]
    assert found, f"no problem at row {row}, column {column!r} in:\n{exc}"
    assert f"row {row}: " in str(exc) and column in str(exc)
    return found[0]


# -- accepted inputs ----------------------------------------------------------------------------


def test_pyarrow_table_converts_to_exactly_the_source_schema() -> None:
    data = pa.table(rows())
    data = data.set_column(0, "user_id", data.column("user_id").cast(pa.int32()))  # safely widened
    out = validate_rows(SOURCE, data, key_columns=KEYS)
    assert out.schema == source_schema(SOURCE)
    assert out.schema.field("embedding").type == pa.list_(pa.float32())
    assert out.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert out.to_pydict() == pa.table(rows()).cast(source_schema(SOURCE)).to_pydict()


def test_column_order_and_pandas_types_are_normalized() -> None:
    frame = pd.DataFrame(rows()).iloc[:, ::-1]
    frame["country"] = frame["country"].astype("category")
    frame["dwell"] = [np.nan, 1.0, 2.0, 3.0]  # NaN means missing
    frame["embedding"] = [np.array([0.1, 0.2, 0.3]), None, np.array([1, 2, 3]), np.zeros(3)]
    out = validate_rows(SOURCE, frame, key_columns=KEYS)
    assert out.schema == source_schema(SOURCE)
    assert out.column("dwell").to_pylist() == [None, 1.0, 2.0, 3.0]
    assert out.column("country").to_pylist() == ["fr", "us", None, "de"]
    assert out.column("embedding").to_pylist()[2] == [1.0, 2.0, 3.0]


def test_polars_frame_with_fixed_size_embeddings_and_naive_timestamps() -> None:
    data = rows()
    data["embedding"] = [[0.1, 0.2, 0.3], [1.0, 1.0, 1.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]
    data["event_timestamp"] = [t.replace(tzinfo=None) for t in data["event_timestamp"]]  # naive = UTC
    frame = pl.DataFrame(data).with_columns(pl.col("embedding").cast(pl.Array(pl.Float32, 3)))
    out = validate_rows(SOURCE, frame, key_columns=KEYS)
    assert out.schema == source_schema(SOURCE)
    assert out.column("event_timestamp").to_pylist() == rows()["event_timestamp"]
    assert out.column("embedding").to_pylist()[2] == [1.0, 2.0, 3.0]


def test_text_values_are_parsed() -> None:
    text = {name: [None if v is None else str(v) for v in values] for name, values in rows().items()}
    text["liked"] = ["true", "False", None, "1"]
    text["clicks"] = [" 1", "+2", "0", "3 "]
    text["event_timestamp"] = ["2026-03-01T12:00:00Z", "2026-03-01 13:00:00+01:00", "2026-03-01 12:00", "2026-03-01"]
    data = pa.table({k: v for k, v in text.items() if k not in ("topics", "embedding")})
    data = data.append_column("topics", pa.array(rows()["topics"])).append_column("embedding", pa.array(rows()["embedding"]))
    out = validate_rows(SOURCE, data, key_columns=KEYS)
    assert out.column("clicks").to_pylist() == [1, 2, 0, 3]
    assert out.column("liked").to_pylist() == [True, False, None, True]
    assert out.column("event_timestamp").to_pylist() == [T0, T0, T0, T0.replace(hour=0)]


def test_whole_floats_become_integers() -> None:
    data = pa.table(rows()).set_column(1, "clicks", pa.array([1.0, None, math.nan, 4.0]))
    assert validate_rows(SOURCE, data, key_columns=KEYS).column("clicks").to_pylist() == [1, None, None, 4]


# -- refused inputs: each names the row and the column ----------------------------------------------


def test_missing_column_is_named() -> None:
    data = rows()
    del data["dwell"]
    exc = invalid(pa.table(data))
    assert "missing column(s): 'dwell'" in str(exc)


def test_extra_column_is_refused_with_a_hint_to_add_it_to_the_source() -> None:
    exc = invalid(pa.table({**rows(), "device": ["ios"] * 4, "scroe": [1.0] * 4}))
    assert "unknown column 'device'" in str(exc)
    assert "add a Field for it to the source's schema" in str(exc)
    assert set(exc.columns) == {"device", "scroe"}


def test_a_typo_is_named_with_the_column_it_probably_means() -> None:
    data = rows()
    data["scroe"] = data.pop("score")
    assert "unknown column 'scroe' (did you mean 'score'?)" in str(invalid(pa.table(data)))


def test_null_timestamp() -> None:
    data = rows()
    data["event_timestamp"][2] = None
    assert "every row needs an event timestamp" in reason(invalid(pa.table(data)), 2, "event_timestamp")


def test_unparseable_timestamp() -> None:
    data = rows()
    data["event_timestamp"] = [t.isoformat() for t in data["event_timestamp"]]
    data["event_timestamp"][1] = "yesterday"
    data["event_timestamp"][3] = "2026-13-45T00:00:00Z"
    exc = invalid(pa.table(data))
    assert "'yesterday' is not an ISO 8601 timestamp" in reason(exc, 1, "event_timestamp")
    assert "2026-13-45" in reason(exc, 3, "event_timestamp")
    assert exc.invalid_rows == 2


def test_epoch_numbers_are_not_taken_as_timestamps() -> None:
    data = rows()
    data["event_timestamp"] = [1_700_000_000] * 4
    assert "is not a Timestamp" in reason(invalid(pa.table(data)), 0, "event_timestamp")


def test_null_join_key() -> None:
    frame = pd.DataFrame(rows())
    frame["user_id"] = pd.array([1, None, 3, 4], dtype="Int64")
    assert "every row needs a join key value" in reason(invalid(frame), 1, "user_id")


def test_null_event_id() -> None:
    data = rows()
    data["event_id"][0] = None
    assert "every row needs an event id" in reason(invalid(pa.table(data)), 0, "event_id")


def test_a_value_that_cannot_be_cast_safely() -> None:
    data = rows()
    data["clicks"] = [1.0, 2.5, 3.0, 4.0]
    data["score"] = ["0.5", "high", "1e3", None]
    exc = invalid(pa.table(data))
    assert "2.5 is not a whole number" in reason(exc, 1, "clicks")
    assert "'high' is not a Float64" in reason(exc, 1, "score")
    assert exc.invalid_rows == 1


def test_a_column_of_the_wrong_type() -> None:
    data = rows()
    data["country"] = [1, 2, None, 4]
    exc = invalid(pa.table(data))
    assert "is not a String" in reason(exc, 0, "country")
    assert exc.columns == {"country": 3}


def test_mixed_python_objects_in_a_pandas_column() -> None:
    frame = pd.DataFrame(rows())
    frame["clicks"] = pd.Series([1, "many", 3, 4], dtype=object)
    assert "'many' is not an Int64" in reason(invalid(frame), 1, "clicks")


def test_integer_out_of_range() -> None:
    data = pa.table(rows()).set_column(1, "clicks", pa.array([1, 2**63, 3, 4], pa.uint64()))
    assert "Int64 range" in reason(invalid(data), 1, "clicks")


def test_embedding_of_the_wrong_length() -> None:
    data = rows()
    data["embedding"][3] = [1.0, 2.0]
    assert "has 2 values, but Embedding(3) needs 3" in reason(invalid(pa.table(data)), 3, "embedding")


def test_embedding_with_nan_or_inf() -> None:
    data = rows()
    data["embedding"][0] = [1.0, math.nan, 2.0]
    data["embedding"][2] = [1.0, math.inf, 2.0]
    exc = invalid(pa.table(data))
    assert "NaN or infinite" in reason(exc, 0, "embedding")
    assert "NaN or infinite" in reason(exc, 2, "embedding")


def test_infinity_is_refused_but_nan_means_missing() -> None:
    data = rows()
    data["score"] = [math.nan, math.inf, -math.inf, 1.0]
    data["dwell"] = [1e300, 1.0, 2.0, 3.0]  # overflows Float32
    exc = invalid(pa.table(data))
    assert "inf is not a finite Float64" in reason(exc, 1, "score")
    assert "-inf is not a finite Float64" in reason(exc, 2, "score")
    assert "is not a finite Float32" in reason(exc, 0, "dwell")
    assert not [p for p in exc.problems if p[0] == 0 and p[1] == "score"]


def test_bool_from_integers_only_takes_0_and_1() -> None:
    data = pa.table(rows()).set_column(5, "liked", pa.array([0, 1, 2, None]))
    assert "2 is not a Bool" in reason(invalid(data), 2, "liked")


def test_the_report_shows_ten_rows_and_counts_them_all() -> None:
    data = rows(1000)
    for i in range(0, 1000, 2):
        data["user_id"][i] = None
    exc = invalid(pa.table(data), row_offset=5000)
    message = str(exc)
    assert exc.invalid_rows == 500 and exc.columns == {"user_id": 500}
    assert "500 of 1,000 rows are invalid" in message
    assert [p[0] for p in exc.problems] == list(range(5000, 5020, 2))
    assert "row 5018: user_id" in message and "row 5020" not in message
    assert "... and 490 more rows" in message
    assert "source 'events'" in message


def test_unknown_input_types_are_refused() -> None:
    with pytest.raises(DataValidationError, match="pyarrow Table, a pandas DataFrame or a polars DataFrame"):
        validate_rows(SOURCE, [{"user_id": 1}])


def test_docstring_examples_run() -> None:
    import doctest

    from skewless.offline import validate

    assert doctest.testmod(validate, raise_on_error=True).attempted > 0
