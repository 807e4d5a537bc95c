"""``skewless stream`` (a stream worker), ``skewless status`` (lag, freshness, dead letters)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from skewless.cli.common import console, open_store
from skewless.errors import DefinitionError


def stream(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="The stream source whose events to consume, e.g. engagement.")],
    partitions: Annotated[
        str | None, typer.Option(help="Partitions to own, e.g. '0,1' (default: all, streaming.partitions in skewless.yaml).")
    ] = None,
    idle_exit: Annotated[float | None, typer.Option(help="Stop after this many seconds without events (default: run forever).")] = None,
) -> None:
    """Consume a source's events from the bus (Redis Streams) into the offline log and the online tiles.

    Run one worker per partition set; a worker killed at any moment and restarted neither loses nor
    double-counts an event. Producers send with [cyan]store.publish(source, events)[/cyan].

    Example: [cyan]skewless stream engagement --partitions 0,1[/cyan] and, on a second core,
    [cyan]skewless stream engagement --partitions 2,3[/cyan]
    """
    with open_store(ctx) as store:
        owned = _partitions(partitions, store.config.streaming.partitions)
        worker = store.stream_worker(source, owned)
        console().print(f"consuming {source!r}, partitions {owned}, from {store.config.streaming.bus_url}")
        try:
            stats = worker.run(idle_exit_s=idle_exit)
        except KeyboardInterrupt:
            stats = worker.stats
        console().print(f"{stats.events:,} events, {stats.applied:,} new to the tiles, {stats.dead_letters:,} dead letters")


def backfill(
    ctx: typer.Context,
    views: Annotated[list[str] | None, typer.Argument(help="Windowed views to backfill (default: all).")] = None,
) -> None:
    """Build the online tiles of windowed views from the history in the offline store.

    Reads each view's source back to its longest window (plus hop and the tile history) and merges it into
    the tiles; run it after [cyan]skewless apply[/cyan] of a new windowed view, or to rebuild tiles. Safe
    while stream workers run: an event counts once, whichever applies it first.

    Example: [cyan]skewless backfill user_engagement article_popularity[/cyan]
    """
    with open_store(ctx) as store:
        for result in store.backfill(views=views or None):
            console().print(
                f"{result.view}@v{result.version}: {result.events:,} events read, {result.applied:,} new to the tiles, {result.seconds:.1f} s"
            )


def status(ctx: typer.Context) -> None:
    """Per stream source: consumer lag per partition, freshness (bus -> online) and dead letters.

    Example: [cyan]skewless status[/cyan]
    """
    with open_store(ctx) as store:
        table = Table("source", "partition", "lag (entries)", "events", "freshness p50 / p99 (ms)", "dead letters")
        for source, rows in store.stream_status().items():
            for row in rows:
                p50, p99 = row.get("freshness_p50_ms"), row.get("freshness_p99_ms")
                fresh = f"{p50:,.1f} / {p99:,.1f}" if p50 is not None and p99 is not None else "-"
                table.add_row(
                    source, str(row["partition"]), f"{row['lag']:,}", f"{row.get('events', 0):,.0f}", fresh, f"{row['dead_letters']:,}"
                )
        console().print(table)


def _partitions(text: str | None, count: int) -> list[int]:
    if text is None:
        return list(range(count))
    try:
        owned = sorted({int(p) for p in text.split(",") if p.strip()})
    except ValueError:
        raise DefinitionError(f"--partitions {text!r} is not a list of numbers", hint="e.g. --partitions 0,1") from None
    bad = [p for p in owned if not 0 <= p < count]
    if bad or not owned:
        raise DefinitionError(
            f"--partitions {text!r}: the sources have partitions 0 to {count - 1}", hint="see streaming.partitions in skewless.yaml"
        )
    return owned
