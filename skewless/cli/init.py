"""``skewless init NAME``: scaffold a working feature repo from a template folder."""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from skewless.cli.common import console
from skewless.config import CONFIG_FILE
from skewless.errors import ConfigError

TEMPLATE_SUFFIX = ".tmpl"
PLACEHOLDER = "{{name}}"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Files whose real name packaging would drop or tools would pick up (dotfiles, *.py).
_RENAMED = {"gitignore": ".gitignore"}


def templates() -> dict[str, Traversable]:
    root = resources.files("skewless.cli") / "templates"
    return {t.name: t for t in root.iterdir() if t.is_dir() and not t.name.startswith(("_", "."))}


def init(
    name: Annotated[str, typer.Argument(help="Project name, also the folder created: letters, digits and underscores.")],
    template: Annotated[str, typer.Option("--template", "-t", help="The template to start from.")] = "basic",
    directory: Annotated[
        Path, typer.Option("--dir", "-d", help="Create the NAME folder inside this folder.", show_default="current folder")
    ] = Path("."),
) -> None:
    """Create a new feature repo folder NAME with a small but complete example.

    It holds [cyan]skewless.yaml[/cyan] (just [cyan]project: NAME[/cyan], with the other settings
    commented out), [cyan]features.py[/cyan] (an entity, a stream and a batch source, a snapshot view,
    an aggregation view with a click-through rate, an on-demand view and a feature service),
    a README with the next commands, and a .gitignore for [cyan]data/[/cyan].

    [bold]Example:[/bold]

      skewless init news && cd news && skewless plan && skewless apply
    """
    if not _IDENTIFIER.match(name):
        suggestion = re.sub(r"\W", "_", name)
        suggestion = suggestion if _IDENTIFIER.match(suggestion) else f"p_{suggestion}"
        raise ConfigError(
            f"project name {name!r} is not an identifier",
            hint=f"use letters, digits and underscores, not starting with a digit, e.g. {suggestion!r}",
        )
    available = templates()
    if template not in available:
        raise ConfigError(f"unknown template {template!r}", hint=f"choose from {', '.join(sorted(available))}")
    target = directory / name
    enclosing = next((d for d in [directory.resolve(), *directory.resolve().parents] if (d / CONFIG_FILE).is_file()), None)
    if enclosing is not None:
        raise ConfigError(
            f"{target.resolve()} would be inside the feature repo {enclosing}, which would then load its files too",
            hint="create it outside, e.g. `skewless init NAME --dir ..`",
        )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(
            f"{target} already exists and is not empty",
            hint="choose another NAME, or --dir to create it elsewhere",
        )
    target.mkdir(parents=True, exist_ok=True)
    written = [_write(item, target, name) for item in sorted(available[template].iterdir(), key=lambda t: t.name)]
    out = console()
    out.print(Text.assemble("Created feature repo ", (f"{target}/", "bold"), f" ({template} template):"))
    for path in written:
        out.print(f"  {path.name}")
    out.print()
    out.print(Text("Next:", style="bold"))
    out.print(Text(f"  cd {target} && skewless plan && skewless apply && skewless describe ranker", style="cyan"), soft_wrap=True)


def _write(item: Traversable, target: Path, name: str) -> Path:
    filename = item.name.removesuffix(TEMPLATE_SUFFIX)
    path = target / _RENAMED.get(filename, filename)
    path.write_text(item.read_text(encoding="utf-8").replace(PLACEHOLDER, name), encoding="utf-8")
    return path
