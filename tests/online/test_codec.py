import math
from datetime import UTC, datetime

import numpy as np

from skewless import Array, Bool, Embedding, Field, Float32, Float64, Int64, String, Timestamp
from skewless.online.codec import RowCodec
from skewless.online.keys import entity_key, key_prefix

FEATURES = [
    Field(name="clicks", dtype=Int64),
    Field(name="ctr", dtype=Float64),
    Field(name="dwell", dtype=Float32),
    Field(name="country", dtype=String),
    Field(name="mobile", dtype=Bool),
    Field(name="topics", dtype=Array(String)),
    Field(name="published", dtype=Timestamp),
    Field(name="embedding", dtype=Embedding(4)),
]


def test_round_trip_with_nulls_and_embeddings() -> None:
    codec = RowCodec("v", 1, FEATURES)
    published = datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=UTC)
    values = [2**40, 0.125, 1.5, "FR", True, ["sport", "tech"], published, [0.5, -1.0, 3.25, 0.0]]
    ts, decoded = codec.decode(codec.encode(123, values))  # type: ignore[misc]
    assert ts == 123
    assert decoded[:7] == values[:7]
    assert decoded[7].dtype == np.float32 and decoded[7].tolist() == values[7]
    ts, decoded = codec.decode(codec.encode(5, [None] * 8))  # type: ignore[misc]
    assert decoded == [None] * 8
    assert math.isnan(codec.decode(codec.encode(1, [None, float("nan")] + [None] * 6))[1][1])  # type: ignore[index]


def test_another_layout_reads_as_missing() -> None:
    old = RowCodec("v", 1, FEATURES)
    new = RowCodec("v", 1, [*FEATURES, Field(name="extra", dtype=Int64)])
    assert old.schema_id != new.schema_id != RowCodec("v", 2, FEATURES).schema_id
    assert new.decode(old.encode(1, [None] * 8)) is None


def test_keys() -> None:
    prefix = key_prefix("news", "user_profile", 2)
    assert entity_key(prefix, [42]) == b"sk:news:user_profile@v2:42"
    assert entity_key(prefix, [42, "a"]) == b"sk:news:user_profile@v2:42\x1fa"
    assert entity_key(prefix, [4, 2]) != entity_key(prefix, [42])
