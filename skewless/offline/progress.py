"""A progress bar for training sets: one line per source read, advanced after each batch of rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn

from skewless.offline.windowed import BatchProgress


@contextmanager
def batch_progress(enabled: bool) -> Iterator[BatchProgress | None]:
    """A :data:`BatchProgress` drawing a bar per source (``None`` when not ``enabled``)."""
    if not enabled:
        yield None
        return
    columns = (TextColumn("reading {task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def advance(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done, total=total)

        yield advance
