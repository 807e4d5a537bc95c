"""Bus entries parse exactly as the json module reads what the producer wrote, orjson or not."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.streaming.redis_bus import _loads

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-(2**80), 2**80) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=300)
@given(values)
def test_entries_parse_as_the_json_module_reads_them(value: Any) -> None:
    payload = json.dumps(value).encode()
    assert _same(_loads(payload), json.loads(payload))


def test_integers_beyond_64_bits_stay_exact() -> None:
    entry = [{"id": 123456789012345678901234, "ts": 1795700000000000}]
    assert _loads(json.dumps(entry).encode()) == entry
    assert _loads(b'{"a": 9999999999999999999}') == {"a": 9999999999999999999}  # 19 digits: beyond int64
