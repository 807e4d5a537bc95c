"""``skewless ingest`` and ``skewless training-set``: the offline store from the shell."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from skewless.cli.common import console, local_time, open_store
from skewless.errors import InvalidRequestError

training_set_app = typer.Typer(
    help="Build point-in-time-correct training sets, stored as tables and recorded so they can be rebuilt exactly.",
    no_args_is_help=True,
)


def ingest(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="The registered source to append to, e.g. engagement_events.")],
    file: Annotated[Path, typer.Argument(help="A Parquet or CSV file with the source's columns.", exists=True, dir_okay=False)],
    batch_rows: Annotated[int, typer.Option(help="Rows read per batch (memory stays bounded).", min=1)] = 1_000_000,
) -> None:
    """Validate a whole file, then append it to a source's table in one atomic commit.

    Nothing is written if any row is invalid; the report names rows, columns and reasons.

    Example: [cyan]skewless ingest engagement_events events-2026-03.parquet[/cyan]
    """
    from skewless.offline.ingest import ingest_file

    with open_store(ctx) as store:
        result = ingest_file(store, source, file, batch_rows=batch_rows)
    rate = result.rows / result.seconds if result.seconds else float("inf")
    console().print(
        f"Ingested {result.rows:,} rows into {result.source} (table version {result.version}) in {result.seconds:.1f} s, {rate:,.0f} rows/s"
    )


@training_set_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the training set, e.g. ranker_2026_03.")],
    entities: Annotated[Path, typer.Argument(help="Parquet or CSV of entity rows: join keys, event_timestamp, labels.", exists=True)],
    service: Annotated[str | None, typer.Option("--service", "-s", help="A feature service naming the features.")] = None,
    feature: Annotated[list[str] | None, typer.Option("--feature", "-f", help="A 'view:feature' name; repeat for more.")] = None,
    full_feature_names: Annotated[bool, typer.Option(help="Name columns view__feature.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace a training set of the same name.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per source read.")] = True,
) -> None:
    """Join point-in-time-correct features to entity rows and store the result.

    Example: [cyan]skewless training-set create ranker_march labels.parquet --service ranker[/cyan]
    """
    if bool(service) == bool(feature):
        raise InvalidRequestError("give either --service or one or more --feature", hint="e.g. --service ranker")
    with open_store(ctx) as store:
        created = store.create_training_set(
            name,
            _read_table(entities),
            service or list(feature or []),
            full_feature_names=full_feature_names,
            overwrite=overwrite,
            progress=progress,
        )
    console().print(f"Training set {created.name}: {created.rows:,} rows, {len(created.record['features'])} features -> {created.path}")


@training_set_app.command("list")
def list_sets(ctx: typer.Context) -> None:
    """List recorded training sets. Example: [cyan]skewless training-set list[/cyan]"""
    with open_store(ctx) as store:
        sets = store.training_sets.list()
    table = Table("Name", "Rows", "Features", "Time range", "Source versions", "Created")
    for item in sets:
        record = item.record
        versions = ", ".join(f"{k}@{v}" for k, v in record["source_versions"].items())
        start, end = record["time_range"]
        table.add_row(
            item.name,
            f"{item.rows:,}",
            str(len(record["features"])),
            f"{start} .. {end}",
            versions,
            local_time(datetime.fromisoformat(record["created_at"])),
        )
    console().print(table)


@training_set_app.command("rebuild")
def rebuild(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The training set to recompute from its record.")],
) -> None:
    """Recompute a training set from its record (same definitions, same table versions) and check it matches.

    Example: [cyan]skewless training-set rebuild ranker_march[/cyan]
    """
    with open_store(ctx) as store:
        stored = store.training_sets.get(name).to_arrow()
        rebuilt = store.training_sets.rebuild(name)
    if not rebuilt.equals(stored):
        console().print(f"[red]Rebuilt {name} differs from the stored set[/red] ({rebuilt.num_rows} vs {stored.num_rows} rows)")
        raise typer.Exit(1)
    console().print(f"Rebuilt {name}: {rebuilt.num_rows:,} rows, identical to the stored set")


def _read_table(path: Path) -> object:
    import pyarrow.csv
    import pyarrow.parquet

    if path.suffix.lower() == ".csv":
        return pyarrow.csv.read_csv(path)
    return pyarrow.parquet.read_table(path)
