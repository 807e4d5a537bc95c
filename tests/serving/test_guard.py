"""The store guard's awaited read: a busy event loop is not a slow store, a silent store is."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from servers import RedisServer, start_redis
from skewless.errors import OnlineStoreUnavailableError
from skewless.online.redis_store import RedisOnlineStore
from skewless.serving.guard import GuardedStore


def _guarded(url: str) -> GuardedStore:
    return GuardedStore(RedisOnlineStore(url, timeout_seconds=0.05), timeout_seconds=0.05, retry_seconds=0.1, threaded=True)


def test_an_answer_seen_late_by_a_busy_loop_is_not_a_timeout(redis_server: RedisServer) -> None:
    guard = _guarded(redis_server.url)
    key = f"guard:{uuid.uuid4().hex}".encode()
    guard.store.put_many([(key, b"v")])

    async def read_while_the_loop_is_busy() -> tuple[object, float]:
        read = asyncio.ensure_future(guard.read_async([key], []))
        await asyncio.sleep(0)  # the read is sent; Redis answers in well under a millisecond
        started = time.monotonic()
        time.sleep(0.2)  # other requests' work holds the loop 4x the store timeout
        return await read, time.monotonic() - started

    (values, _), waited = asyncio.run(read_while_the_loop_is_busy())
    assert values == [b"v"] and waited >= 0.2
    assert guard.available


def test_a_store_that_does_not_answer_times_out_and_opens_the_breaker(tmp_path: Path) -> None:
    server = start_redis(tmp_path)
    guard = _guarded(server.url)
    asyncio.run(guard.read_async([b"warm"], []))  # connected
    os.kill(server.pid, signal.SIGSTOP)  # accepts, never answers
    try:
        started = time.monotonic()
        with pytest.raises(OnlineStoreUnavailableError, match="did not answer within 50 ms"):
            asyncio.run(guard.read_async([b"k"], []))
        assert time.monotonic() - started < 0.5
        assert not guard.available
        with pytest.raises(OnlineStoreUnavailableError, match="retrying soon"):  # the breaker: no call at all
            asyncio.run(guard.read_async([b"k"], []))
    finally:
        os.kill(server.pid, signal.SIGCONT)
        server.stop()
