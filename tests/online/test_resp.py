"""Commands packed by hand equal redis-py's own packing of the same commands (its RESP encoder is the oracle)."""

from __future__ import annotations

import redis
from hypothesis import given
from hypothesis import strategies as st

from skewless.online.protocol import FieldSet
from skewless.online.resp import command, plan_commands, standalone_commands

_KEYS = st.binary(min_size=0, max_size=40)


def _redis_py(*args: bytes) -> bytes:
    return b"".join(redis.Connection().pack_command(*args))


@given(st.lists(_KEYS, min_size=1, max_size=20), st.lists(st.lists(_KEYS, max_size=5), max_size=3), st.lists(_KEYS, min_size=1, max_size=8))
def test_commands_are_what_redis_py_sends(keys: list[bytes], hashes_per_read: list[list[bytes]], names: list[bytes]) -> None:
    fields = FieldSet(names)
    reads = [(hashes, fields) for hashes in hashes_per_read]
    assert standalone_commands(keys, reads) == [
        _redis_py(b"MGET", *keys),
        *(_redis_py(b"HMGET", h, *names) for hashes in hashes_per_read for h in hashes),
    ]
    planned = plan_commands(keys, reads)
    assert [packed for _, packed, _ in planned[: len(keys)]] == [_redis_py(b"GET", k) for k in keys]
    assert [key for key, _, _ in planned] == [*keys, *(h for hashes in hashes_per_read for h in hashes)]
    assert command(b"SET", keys[0], [b"v", b"NX"]) == _redis_py(b"SET", keys[0], b"v", b"NX")
