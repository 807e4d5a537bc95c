"""An online store that answers within the store timeout, and is left alone for a while once it fails.

Two things keep a slow or dead store from slowing every request down:

- a deadline: a remote store's read runs on a small thread pool and is abandoned after
  ``timeout_seconds`` (the backend's own socket timeout can be exceeded by client retries). A
  backend whose own timeout bounds a read (``bounds_reads``: standalone Redis, no retries) is
  called directly: handing each read to a thread and back cost ~1 ms per request under load on a
  2-core machine (cProfile of ``skewless serve``: the event loop waiting on the pool's lock and
  queue), more than the read itself;
- a circuit breaker: after a failure the store is not called for ``retry_seconds``; reads fail
  at once (and are answered from the cache or with ``STORE_UNAVAILABLE`` statuses). The first
  read after that tries the store again, so recovery needs no restart.

The embedded store (memory-mapped, in-process) cannot hang, so it is called directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from skewless.errors import OnlineStoreUnavailableError
from skewless.online.protocol import FieldRead, OnlineStore, Values

log = logging.getLogger(__name__)
READ_THREADS = 4
_GRACE_TURNS = 3  # loop turns a late-seen answer may need: its socket read, then the read's own steps
_EXTENSIONS = 3  # more timeouts a read gets when the loop, not the store, was late
_T = TypeVar("_T")


class GuardedStore:
    def __init__(
        self,
        store: OnlineStore,
        *,
        timeout_seconds: float,
        retry_seconds: float,
        threaded: bool,
        on_error: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self.store = store
        self.timeout_seconds = timeout_seconds
        self.retry_seconds = retry_seconds
        self.on_error = on_error
        threaded = threaded and not getattr(store, "bounds_reads", False)
        self._executor = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="skewless-store") if threaded else None
        self._down_until = 0.0
        self._reason = ""

    @property
    def available(self) -> bool:
        """False while the breaker is open (the store failed less than ``retry_seconds`` ago)."""
        return self._down_until == 0.0 or time.monotonic() >= self._down_until

    def get_many(self, keys: Sequence[bytes]) -> Values:
        return self.read(keys, ())[0]

    def read(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        self._check_breaker()
        try:
            if self._executor is None:
                result = self.store.read(keys, field_reads)
            else:
                result = self._executor.submit(self.store.read, keys, field_reads).result(timeout=self.timeout_seconds)
        except Exception as exc:
            raise self._failed(exc) from exc
        self._succeeded()
        return result

    async def read_async(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        """:meth:`read` for the event loop: a threaded backend is awaited on its thread; one with its
        own async read (standalone Redis) is awaited, so the loop serves other requests meanwhile;
        the embedded store, which never waits, is called directly."""
        self._check_breaker()
        read_async = getattr(self.store, "read_async", None)
        try:
            if self._executor is not None:
                result = await self._within(asyncio.wrap_future(self._executor.submit(self.store.read, keys, field_reads)))
            elif read_async is not None:
                result = await self._within(read_async(keys, field_reads))
            else:
                result = self.store.read(keys, field_reads)
        except Exception as exc:
            raise self._failed(exc) from exc
        self._succeeded()
        return result

    async def _within(self, awaitable: Awaitable[_T]) -> _T:
        """``awaitable``'s result, or TimeoutError if the store has not answered within the timeout.

        A busy event loop (other requests' work) is not a slow store, but it delays everything: the
        read's send, the answer's arrival, and the timer, which runs before an answer seen in the
        same loop turn. So the loop first runs what it already had ready, and a timer that fired
        late (the loop was busy for at least half the timeout past the deadline) gives the read
        another timeout, up to ``_EXTENSIONS`` times. A store that does not answer while the loop
        is free still fails after one timeout. (A socket timeout on the read itself would fail
        answers that came in time, under load.)"""
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(awaitable)
        deadline = loop.time() + self.timeout_seconds
        for extension in range(_EXTENSIONS + 1):
            await asyncio.wait((task,), timeout=max(0.0, deadline - loop.time()))
            for _ in range(_GRACE_TURNS):
                if task.done():
                    return task.result()
                await asyncio.sleep(0)
            if task.done():
                return task.result()
            now = loop.time()
            if now - deadline < self.timeout_seconds / 2 or extension == _EXTENSIONS:
                break
            deadline = now + self.timeout_seconds
        task.cancel()
        raise TimeoutError

    def _check_breaker(self) -> None:
        if self._down_until and time.monotonic() < self._down_until:
            raise OnlineStoreUnavailableError(f"the online store is unavailable ({self._reason}); retrying soon")

    def _failed(self, exc: Exception) -> OnlineStoreUnavailableError:
        """Open the breaker for a failed read; the error the caller raises."""
        if isinstance(exc, TimeoutError):  # concurrent.futures' and asyncio's alike
            self._trip("timeout", f"no answer within {self.timeout_seconds * 1000:.0f} ms")
            return OnlineStoreUnavailableError(f"the online store did not answer within {self.timeout_seconds * 1000:.0f} ms")
        if isinstance(exc, OnlineStoreUnavailableError):
            self._trip("unavailable", exc.message)
            return exc
        log.exception("online store read failed", exc_info=exc)  # a backend bug or an unexpected client error: degrade, and log it
        self._trip("error", f"{type(exc).__name__}: {exc}")
        return OnlineStoreUnavailableError(f"the online store failed: {exc}")

    def _succeeded(self) -> None:
        if self._down_until:
            log.warning("online store is back")
            self._down_until = 0.0

    def _trip(self, kind: str, reason: str) -> None:
        if not self._down_until:
            log.warning("online store failed (%s); not calling it for %.0f ms", reason, self.retry_seconds * 1000)
        self._reason = reason
        self._down_until = time.monotonic() + self.retry_seconds
        self.on_error(kind)

    def put_many(self, items: Sequence[tuple[bytes, bytes]], *, ttl_seconds: int | None = None) -> None:
        self.store.put_many(items, ttl_seconds=ttl_seconds)

    def delete_many(self, keys: Sequence[bytes]) -> None:
        self.store.delete_many(keys)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
