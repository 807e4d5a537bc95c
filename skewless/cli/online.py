"""``skewless materialize`` and ``skewless materialize-incremental``: load the online store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from skewless.cli.common import console, open_store
from skewless.errors import DefinitionError

ViewsOption = Annotated[list[str] | None, typer.Option("--view", "-v", help="Only this view (repeatable; default: every online view).")]


def materialize(
    ctx: typer.Context,
    start: Annotated[str, typer.Argument(help="Start of the event-time range, ISO 8601 (UTC unless an offset is given).")],
    end: Annotated[str, typer.Argument(help="End of the range (exclusive), ISO 8601, or 'now'.")],
    views: ViewsOption = None,
) -> None:
    """Load the latest value per key of snapshot views, from events in [START, END), into the online store.

    Windowed views are kept online as tiles by [cyan]skewless stream[/cyan] and [cyan]skewless backfill[/cyan].
    Killed midway, run it again: writes are idempotent.

    Example: [cyan]skewless materialize 2026-11-01 now[/cyan]
    """
    with open_store(ctx) as store:
        results = store.materialize(moment(start, "START"), moment(end, "END"), views=views or None)
    for result in results:
        console().print(f"{result.view}: {result.rows:,} rows")


def materialize_incremental(
    ctx: typer.Context,
    end: Annotated[str, typer.Argument(help="End of the range (exclusive), ISO 8601, or 'now'.")] = "now",
    views: ViewsOption = None,
) -> None:
    """Like materialize, from where each view's last run ended (its watermark in the registry) up to END.

    Example: [cyan]skewless materialize-incremental[/cyan]  (e.g. every 10 minutes from cron)
    """
    with open_store(ctx) as store:
        results = store.materialize_incremental(moment(end, "END"), views=views or None)
    for result in results:
        console().print(f"{result.view}: {result.rows:,} rows")


def moment(text: str, what: str) -> datetime:
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DefinitionError(
            f"{what} {text!r} is not an ISO 8601 time", hint="e.g. 2026-11-01 or 2026-11-01T06:00:00+01:00, or 'now'"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
