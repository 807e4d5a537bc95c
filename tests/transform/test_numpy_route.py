"""Serving builds on-demand inputs and outputs without Arrow; training sets go through Arrow. The two
routes must give the same arrays and values, or the shortcut must decline (return None)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.definitions.types import Array, Bool, DType, Float32, Float64, Int64, String, Timestamp
from skewless.errors import DefinitionError
from skewless.transform.on_demand import arrow_to_udf_input, udf_output_to_arrow, udf_output_to_values, values_to_udf_input

INTS = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**54), 2**54), st.sampled_from([0, 1, -1, 2**53, 2**53 + 1]))
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
ODD = st.sampled_from([True, 1.5, "x", b"x", [1], None])  # values of the wrong type: the shortcut declines or agrees


def _column(values: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.one_of(st.none(), values), max_size=8)


CASES: list[tuple[DType, st.SearchStrategy[list[Any]]]] = [
    (Int64, _column(st.one_of(INTS, ODD))),
    (Float64, _column(st.one_of(FLOATS, INTS, ODD))),
    (Bool, _column(st.one_of(st.booleans(), ODD))),
    (String, _column(st.one_of(st.text(max_size=3), ODD))),
    (Array(String), _column(st.one_of(st.lists(st.one_of(st.none(), st.text(max_size=2)), max_size=3), ODD))),
    (
        Array(Float32),
        _column(st.one_of(st.lists(st.one_of(FLOATS, st.sampled_from([3.4028235677973366e38, 0.1, 1e-46])), max_size=3), ODD)),
    ),
    (Array(Float64), _column(st.lists(st.one_of(FLOATS, INTS), max_size=3))),
    (Array(Int64), _column(st.lists(INTS, max_size=3))),
]


def _via_arrow(values: list[Any], dtype: DType) -> np.ndarray | None:
    try:
        return arrow_to_udf_input(pa.array(values, type=dtype.to_arrow()), dtype)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(
            isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
            and all(_same(x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True))
        )  # fmt: skip
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and a != a:
        return b != b
    return type(a) is type(b) and bool(a == b)


@pytest.mark.parametrize(("dtype", "strategy"), CASES, ids=[str(c[0]) for c in CASES])
def test_inputs_match_the_arrow_route(dtype: DType, strategy: st.SearchStrategy[list[Any]]) -> None:
    @given(strategy)
    @settings(max_examples=300, deadline=None, database=None)
    def check(values: list[Any]) -> None:
        fast = values_to_udf_input(values, dtype)
        if fast is not None:  # declining is always allowed: the caller takes the Arrow route
            expected = _via_arrow(values, dtype)
            assert expected is not None, f"the shortcut accepted {values!r}, which Arrow refuses"
            assert _same(fast, expected), (values, fast, expected)

    check()


def test_inputs_for_common_values_take_the_shortcut() -> None:
    assert values_to_udf_input([1, None, 3], Int64) is not None
    assert values_to_udf_input(["a", None], String) is not None
    assert values_to_udf_input([["a", "b"], None, []], Array(String)) is not None
    assert values_to_udf_input([[0.5, 0.25], None], Array(Float32)) is not None
    assert values_to_udf_input([2**60], Int64) is None  # not exact as float64: Arrow refuses it
    assert values_to_udf_input([1], Timestamp) is None  # datetimes are the Arrow route's job


OUTPUTS = [
    (Float64, st.lists(FLOATS, max_size=6).map(lambda v: np.array(v, dtype=np.float64))),
    (Int64, st.lists(st.integers(-(2**63), 2**63 - 1), max_size=6).map(lambda v: np.array(v, dtype=np.int64))),
    (Bool, st.lists(st.booleans(), max_size=6).map(lambda v: np.array(v, dtype=bool))),
    (Float32, st.lists(FLOATS, max_size=6).map(lambda v: np.array(v, dtype=np.float64))),  # not a shortcut: Arrow casts
    (Int64, st.lists(st.one_of(FLOATS, st.integers(-100, 100).map(float)), max_size=6).map(lambda v: np.array(v, dtype=np.float64))),
]


@pytest.mark.parametrize(("dtype", "strategy"), OUTPUTS, ids=[f"{c[0]}-{i}" for i, c in enumerate(OUTPUTS)])
def test_outputs_match_the_arrow_route(dtype: DType, strategy: st.SearchStrategy[np.ndarray]) -> None:
    @given(strategy)
    @settings(max_examples=200, deadline=None, database=None)
    def check(array: np.ndarray) -> None:
        try:
            expected: Any = udf_output_to_arrow(array, dtype, rows=len(array), where="x").to_pylist()
        except DefinitionError as exc:
            expected = exc.message
        try:
            got: Any = udf_output_to_values(array, dtype, rows=len(array), where="x")
        except DefinitionError as exc:
            got = exc.message
        assert _same(got, expected), (array, got, expected)

    check()


def test_an_output_of_the_wrong_length_is_refused_alike() -> None:
    with pytest.raises(DefinitionError, match="returned 2 values for 3 rows"):
        udf_output_to_values(np.array([1.0, 2.0]), Float64, rows=3, where="x")
