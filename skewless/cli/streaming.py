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
            counts = f"{result.events:,} events read, {result.applied:,} new to the tiles"
            console().print(f"{result.view}@v{result.version}: {counts}, {result.seconds:.1f} s")


def skew_check(
    ctx: typer.Context,
    views: Annotated[list[str] | None, typer.Argument(help="Windowed views to check (default: all).")] = None,
    samples: Annotated[int, typer.Option(help="(key, time) pairs sampled per view.", min=1)] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
) -> None:
    """Compare online windowed values with what training computes, at sampled keys and times.

    Reads each sampled (key, time) from the online tiles and recomputes it with get_historical_features over
    the offline log; prints mismatches per feature (floats within 1e-9 relative) and exits 1 if there are any.

    Example: [cyan]skewless skew-check --samples 500[/cyan]
    """
    with open_store(ctx) as store:
        report = store.skew_check(samples=samples, seed=seed, views=views or None)
    table = Table("feature", "checked", "mismatches", "example (key, time, online, offline)")
    for skew in report:
        example = "" if not skew.examples else " ".join(map(str, skew.examples[0]))
        table.add_row(skew.feature, f"{skew.checked:,}", f"{skew.mismatches:,}", example)
    console().print(table)
    total = sum(s.mismatches for s in report)
    console().print(f"{total:,} mismatches in {sum(s.checked for s in report):,} values")
    if total:
        raise typer.Exit(1)


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
