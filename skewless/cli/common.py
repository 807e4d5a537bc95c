"""What every command shares: the repo option's value, consoles, and error output."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from skewless.errors import SkewlessError
from skewless.store import FeatureStore


@dataclass(frozen=True)
class CliState:
    """Global options, set by the app callback and read by commands from ``ctx.obj``."""

    repo: Path


def repo_path(ctx: typer.Context) -> Path:
    state = ctx.find_root().obj
    return state.repo if isinstance(state, CliState) else Path(".")


def open_store(ctx: typer.Context) -> FeatureStore:
    """The feature store of the ``--repo`` folder; use it as a context manager."""
    return FeatureStore(repo_path(ctx))


def console() -> Console:
    # Created per call so the width (COLUMNS) and streams in effect at that moment are used.
    return Console(highlight=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def print_error(exc: SkewlessError) -> None:
    """``error: <message>`` in red, then ``hint: <hint>``; never a traceback."""
    out = err_console()
    out.print(Text.assemble(("error: ", "bold red"), (exc.message, "red")), soft_wrap=True)
    if exc.hint:
        out.print(Text.assemble(("hint: ", "bold yellow"), exc.hint), soft_wrap=True)


def hint(text: str) -> Text:
    return Text.assemble(("hint: ", "bold yellow"), text)


def local_time(moment: datetime, *, seconds: bool = True) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
