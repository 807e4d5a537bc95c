import pytest

from skewless import Aggregation, Array, Float32, Float64, Int64, String, Timestamp
from skewless.definitions.aggregation import default_hop_seconds
from skewless.errors import DefinitionError

COLUMNS = {"clicked": Int64, "dwell": Float32, "article_id": Int64, "title": String, "ts": Timestamp}


def test_outputs_are_named_column_function_window() -> None:
    outputs = Aggregation("clicked", "sum", windows=["10m", "1h", "24h"]).outputs(COLUMNS, owner="v")
    assert [o.name for o in outputs] == ["clicked_sum_10m", "clicked_sum_1h", "clicked_sum_24h"]
    assert [o.window_seconds for o in outputs] == [600, 3600, 86400]


@pytest.mark.parametrize(
    ("window", "hop"), [(60, 1), (600, 10), (3600, 60), (86400, 300), (7 * 86400, 3600), (30 * 86400, 3600), (90 * 86400, 86400)]
)
def test_default_hops_overshoot_at_most_a_sixtieth(window: int, hop: int) -> None:
    assert default_hop_seconds(window) == hop
    assert hop * 60 <= window


def test_explicit_hop_applies_to_every_window() -> None:
    outputs = Aggregation("clicked", "count", windows=["1h", "1d"], hop="5m").outputs(COLUMNS, owner="v")
    assert {o.hop_seconds for o in outputs} == {300}


@pytest.mark.parametrize(
    ("function", "column", "dtype"),
    [
        ("count", "title", Int64),
        ("sum", "clicked", Int64),
        ("sum", "dwell", Float64),
        ("mean", "clicked", Float64),
        ("min", "ts", Timestamp),
        ("max", "dwell", Float32),
        ("last", "title", String),
    ],
)
def test_output_types(function: str, column: str, dtype: object) -> None:
    (output,) = Aggregation(column, function, windows=["1h"]).outputs(COLUMNS, owner="v")  # type: ignore[arg-type]
    assert output.dtype == dtype


def test_last_n_keeps_an_array() -> None:
    (output,) = Aggregation("article_id", "last_n", windows=["7d"], n=20).outputs(COLUMNS, owner="v")
    assert output.dtype == Array(Int64) and output.n == 20


def test_custom_name_template() -> None:
    outputs = Aggregation("clicked", "sum", windows=["1h", "1d"], name="clicks_{window}").outputs(COLUMNS, owner="v")
    assert [o.name for o in outputs] == ["clicks_1h", "clicks_1d"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"windows": ["10x"]}, "invalid duration '10x'"),
        ({"windows": ["30s"]}, "outside 1 minute to 90 days"),
        ({"windows": ["91d"]}, "outside 1 minute to 90 days"),
        ({"windows": []}, "windows is empty"),
        ({"windows": ["1h", "60m"]}, "repeat a duration"),
        ({"windows": ["1h"], "hop": "2h"}, "longer than a window"),
        ({"windows": ["1h"], "name": "clicks"}, None),
        ({"windows": ["1h", "2h"], "name": "clicks"}, "put {window} in the name"),
    ],
)
def test_invalid_aggregations_say_what_to_fix(kwargs: dict[str, object], message: str | None) -> None:
    if message is None:
        Aggregation("clicked", "sum", **kwargs)  # type: ignore[arg-type]
        return
    with pytest.raises(DefinitionError, match=message.replace("{", r"\{").replace("}", r"\}")):
        Aggregation("clicked", "sum", **kwargs)  # type: ignore[arg-type]


def test_unknown_function_lists_the_known_ones() -> None:
    with pytest.raises(DefinitionError, match="last_n"):
        Aggregation("clicked", "median", windows=["1h"])  # type: ignore[arg-type]


def test_last_n_needs_n() -> None:
    with pytest.raises(DefinitionError, match="n="):
        Aggregation("article_id", "last_n", windows=["1h"])
    with pytest.raises(DefinitionError, match="only applies to last_n"):
        Aggregation("article_id", "last", windows=["1h"], n=3)


def test_aggregation_on_a_missing_column_names_the_columns() -> None:
    with pytest.raises(DefinitionError) as err:
        Aggregation("clickd", "sum", windows=["1h"]).outputs(COLUMNS, owner="feature view 'pop'")
    text = str(err.value)
    assert "feature view 'pop'" in text and "no column 'clickd'" in text and "clicked" in text


def test_sum_of_a_string_is_a_type_mismatch() -> None:
    with pytest.raises(DefinitionError, match="type mismatch"):
        Aggregation("title", "sum", windows=["1h"]).outputs(COLUMNS, owner="v")
