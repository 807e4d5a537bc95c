"""Awaited Redis reads for serving: one pipelined connection per event loop.

A serving worker awaits its store reads, so it answers other requests while Redis works. redis-py's
asyncio client takes a connection from a pool, writes, reads each reply through a stream reader and
gives the connection back: ~5% of a slate's CPU in ``skewless serve`` (cProfile). Redis answers the
commands of a connection in the order they came, so here the requests of one loop share one
connection: each writes its commands at once and waits for as many replies, which hiredis parses
as the bytes arrive and hands out in order.

A read that times out or whose client left (the caller cancels it) leaves its replies to be dropped
when they come, so the connection stays in step for the reads sharing it. A connection on which
reads have waited a second with nothing coming back is presumed dead (a peer gone without a reset)
and closed, so the next read connects again; a paused or busy server is not given up on sooner, as
the reads sharing the connection would fail with it.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any

import hiredis

from skewless.errors import OnlineStoreUnavailableError
from skewless.online.resp import command

_DEAD_SECONDS = 1.0  # reads waiting this long with nothing received: the connection is presumed dead


class _Replies(asyncio.Protocol):
    """One connection: replies handed to the reads waiting for them, in the order they were sent."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.reader = hiredis.Reader()
        self.waiting: deque[tuple[int, list[Any], asyncio.Future[list[Any]], float]] = deque()  # count, replies, future, sent at
        self.transport: Any = None  # an asyncio or uvloop transport (uvloop's are not asyncio.Transport)
        self.closed = False
        self.received_at = 0.0  # monotonic time of the last bytes read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received_at = time.monotonic()
        self.reader.feed(data)
        waiting = self.waiting
        while waiting:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:  # not RESP: nothing after it can be trusted
                self.fail(f"unreadable reply: {exc}")
                return
            if reply is False:  # incomplete: more bytes to come
                return
            count, replies, future, _ = waiting[0]
            replies.append(reply)
            if len(replies) == count:
                waiting.popleft()
                if not future.done():  # a read that timed out meanwhile: its replies are dropped
                    future.set_result(replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(f"the connection was lost{f': {exc}' if exc else ''}")

    def send(self, commands: Sequence[bytes]) -> asyncio.Future[list[Any]]:
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.waiting.append((len(commands), [], future, time.monotonic()))
        self.transport.write(b"".join(commands))
        return future

    def stale(self) -> bool:
        """Reads have waited over :data:`_DEAD_SECONDS` and nothing came back meanwhile."""
        return bool(self.waiting) and time.monotonic() - max(self.received_at, self.waiting[0][3]) > _DEAD_SECONDS

    def fail(self, reason: str) -> None:
        """Close the connection; the reads waiting on it fail."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        error = OnlineStoreUnavailableError(f"{self.what} failed: {reason}")
        while self.waiting:
            future = self.waiting.popleft()[2]
            if not future.done():
                future.set_exception(error)


class PipelinedConnections:
    """``exchange(commands)``: their replies, on the running loop's connection to one Redis."""

    def __init__(self, connection_kwargs: dict[str, Any], what: str) -> None:
        self.kwargs = connection_kwargs
        self.what = what
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[_Replies, asyncio.Future[None]]] = (
            weakref.WeakKeyDictionary()
        )

    async def exchange(self, commands: Sequence[bytes]) -> list[Any]:
        """Raises OnlineStoreUnavailableError: no connection, the connection was lost, or an error reply."""
        if not commands:
            return []
        connection = await self._connection()
        return self._checked(await connection.send(commands))

    def _checked(self, replies: list[Any]) -> list[Any]:
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError):
                raise OnlineStoreUnavailableError(f"{self.what} failed: {reply}")
        return replies

    async def _connection(self) -> _Replies:
        loop = asyncio.get_running_loop()
        known = self._by_loop.get(loop)
        if known is not None and known[0].stale():  # checked as each read starts: a read given up on says nothing
            known[0].fail(f"no answer for {_DEAD_SECONDS:g} s")
        if known is not None and not known[0].closed:
            await known[1]  # connected (or connecting, for the first reads of the loop)
            return known[0]
        connection, ready = _Replies(self.what), loop.create_future()
        ready.add_done_callback(lambda f: f.exception())  # a failed connect is raised to each waiter, not logged
        self._by_loop[loop] = (connection, ready)
        try:
            await asyncio.wait_for(self._open(loop, connection), self.kwargs.get("socket_connect_timeout"))
        except asyncio.CancelledError:  # the caller gave up (its timeout): the reads waiting with it fail
            connection.fail("connecting took too long")
            ready.set_exception(OnlineStoreUnavailableError(f"{self.what}: connecting took too long"))
            raise
        except Exception as exc:
            connection.fail(f"cannot connect: {exc}")
            failure = (
                exc if isinstance(exc, OnlineStoreUnavailableError) else OnlineStoreUnavailableError(f"{self.what}: cannot connect: {exc}")
            )
            ready.set_exception(failure)
            raise failure from exc
        ready.set_result(None)
        return connection

    async def _open(self, loop: asyncio.AbstractEventLoop, connection: _Replies) -> None:
        kwargs = self.kwargs
        if kwargs.get("path"):
            await loop.create_unix_connection(lambda: connection, kwargs["path"])
        else:
            await loop.create_connection(lambda: connection, kwargs.get("host", "localhost"), kwargs.get("port", 6379))
        setup = []
        if kwargs.get("password"):
            credentials = (
                [kwargs["username"].encode(), kwargs["password"].encode()] if kwargs.get("username") else [kwargs["password"].encode()]
            )
            setup.append(command(b"AUTH", credentials[0], credentials[1:]))
        if kwargs.get("db"):
            setup.append(command(b"SELECT", str(kwargs["db"]).encode()))
        if setup:
            self._checked(await connection.send(setup))
