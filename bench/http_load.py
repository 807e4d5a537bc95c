"""A small HTTP/1.1 load generator for ``online_latency.py``: keep-alive connections, asyncio, stdlib only
(uvloop when installed). Run as its own process so the server under test shares no interpreter with it.

Two modes:

- ``closed``: ``--connections`` connections each send the next request as soon as the previous
  answer arrives; the completed requests per second is the server's saturation throughput.
- ``open``: requests are sent at a fixed ``--rate`` whatever the server does (open-loop pacing), each
  on an idle keep-alive connection (more are opened if all are busy), so a slow answer cannot
  delay the following requests (no coordinated omission). Latency is measured from the moment a
  request is sent; the time from its scheduled moment is reported too (it adds the generator's
  timer lateness, up to about a millisecond).

Request bodies come from a file, one per line, used round robin. The result (JSON) goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import deque
from typing import Any


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, payload: bytes) -> tuple[int, int]:
        """Send one request, read the whole answer; (status, body bytes). Reconnects once if a kept-alive
        connection was closed by the server in between."""
        for attempt in (0, 1):
            if self.writer is None:
                await self.connect()
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(payload)
                return await self._response()
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _response(self) -> tuple[int, int]:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, close = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        size = 0
        if chunked:
            while True:
                chunk = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(chunk + 2)
                size += chunk
                if chunk == 0:
                    break
        elif length is not None:
            await self.reader.readexactly(length)
            size = length
        if close:
            self.close()
        return status, size


def build_requests(host: str, port: int, path: str, bodies: list[bytes], content_type: str) -> list[bytes]:
    return [
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
            f"Accept: */*\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]


def summary(latencies: list[float]) -> dict[str, Any]:
    if not latencies:
        return {"n": 0}
    ordered = sorted(latencies)
    n = len(ordered)

    def pct(q: float) -> float:  # linear interpolation, as numpy's default
        pos = (n - 1) * q / 100
        lo = int(pos)
        hi = min(lo + 1, n - 1)
        return (ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)) * 1000

    return {
        "n": n,
        "mean_ms": sum(ordered) / n * 1000,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "p99.9_ms": pct(99.9),
        "max_ms": ordered[-1] * 1000,
    }


async def closed_loop(args: argparse.Namespace, requests: list[bytes]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from, stop_at = start + args.warmup, start + args.warmup + args.duration
    latencies: list[float] = []
    errors = 0
    counter = 0

    async def worker(index: int) -> None:
        nonlocal errors, counter
        conn = Connection(args.host, args.port)
        await conn.connect()
        while True:
            now = time.perf_counter()
            if loop.time() >= stop_at:
                break
            payload = requests[counter % len(requests)]
            counter += 1
            sent_at_loop = loop.time()
            try:
                status, _ = await conn.request(payload)
            except (OSError, asyncio.IncompleteReadError):
                status = 0
            done = time.perf_counter()
            if sent_at_loop >= measure_from and loop.time() <= stop_at:
                latencies.append(done - now)
                if status != 200:
                    errors += 1
        conn.close()

    await asyncio.gather(*(worker(i) for i in range(args.connections)))
    return {"mode": "closed", "connections": args.connections, "seconds": args.duration, "errors": errors,
            "requests_per_second": len(latencies) / args.duration, "latency": summary(latencies)}  # fmt: skip


async def open_loop(args: argparse.Namespace, requests: list[bytes]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    idle: deque[Connection] = deque()
    for _ in range(args.connections):
        conn = Connection(args.host, args.port)
        await conn.connect()
        idle.append(conn)
    opened = args.connections
    latencies: list[float] = []
    from_schedule: list[float] = []
    lateness: list[float] = []
    errors = 0
    pending: set[asyncio.Task[None]] = set()
    interval = 1.0 / args.rate
    total = int((args.warmup + args.duration) * args.rate)
    warm = int(args.warmup * args.rate)
    t0 = time.perf_counter() + 0.05

    async def fire(k: int, scheduled: float) -> None:
        nonlocal errors, opened
        conn = idle.pop() if idle else None  # LIFO: the busiest connections stay warm
        if conn is None:
            conn = Connection(args.host, args.port)
            opened += 1
        sent = time.perf_counter()
        try:
            status, _ = await conn.request(requests[k % len(requests)])
        except (OSError, asyncio.IncompleteReadError):
            status = 0
            conn.close()
        done = time.perf_counter()
        idle.append(conn)
        if k >= warm:
            latencies.append(done - sent)
            from_schedule.append(done - scheduled)
            lateness.append(sent - scheduled)
            if status != 200:
                errors += 1

    for k in range(total):
        scheduled = t0 + k * interval
        delay = scheduled - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        task = loop.create_task(fire(k, scheduled))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.gather(*pending)
    achieved = len(latencies) / max(1e-9, (t0 + total * interval) - (t0 + warm * interval))
    for conn in idle:
        conn.close()
    return {
        "mode": "open",
        "target_rate": args.rate,
        "offered_rate": achieved,
        "seconds": args.duration,
        "errors": errors,
        "connections_opened": opened,
        "latency": summary(latencies),
        "latency_from_schedule": summary(from_schedule),
        "send_lateness": summary(lateness),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/get-online-features")
    parser.add_argument("--bodies", required=True, help="file with one request body per line")
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--mode", choices=["closed", "open"], required=True)
    parser.add_argument("--connections", type=int, default=8, help="closed: concurrent connections; open: pre-opened ones")
    parser.add_argument("--rate", type=float, help="open: requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    args = parser.parse_args()
    with open(args.bodies, "rb") as f:
        bodies = [line.rstrip(b"\n") for line in f if line.strip()]
    requests = build_requests(args.host, args.port, args.path, bodies, args.content_type)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    coroutine = closed_loop(args, requests) if args.mode == "closed" else open_loop(args, requests)
    result = runner(coroutine)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
