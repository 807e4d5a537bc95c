import pyarrow as pa
import pytest

from skewless import Array, Bool, Embedding, Float32, Float64, Int64, String, Timestamp
from skewless.definitions.types import parse_dtype
from skewless.errors import DefinitionError


@pytest.mark.parametrize("dtype", [Int64, Float32, Float64, String, Bool, Timestamp, Array(String), Array(Int64), Embedding(384)])
def test_text_form_round_trips(dtype: object) -> None:
    assert parse_dtype(str(dtype)) == dtype


def test_arrow_types() -> None:
    assert Int64.to_arrow() == pa.int64()
    assert Embedding(4).to_arrow() == pa.list_(pa.float32(), 4)
    assert Array(String).to_arrow() == pa.list_(pa.string())
    assert Timestamp.to_arrow() == pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize("bad", [0, -3, 10**6, 2.5])
def test_embedding_dimension_is_checked(bad: object) -> None:
    with pytest.raises(DefinitionError, match="Embedding"):
        Embedding(bad)  # type: ignore[arg-type]


def test_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(DefinitionError) as err:
        parse_dtype("Int32")
    assert "Int64" in str(err.value)
