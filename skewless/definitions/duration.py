"""Durations written the way people say them: ``"10m"``, ``"1h"``, ``"7d"``, ``"1h30m"``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

from skewless.errors import DefinitionError

UNIT_SECONDS: Final[dict[str, int]] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([wdhms])")
_WHOLE = re.compile(r"^(?:\d+[wdhms])+$")

DurationLike = str | timedelta


def parse_seconds(value: DurationLike, *, where: str) -> int:
    """Return the duration in whole seconds; ``where`` names the field in errors."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        if seconds != int(seconds) or seconds <= 0:
            raise DefinitionError(
                f"{where}: duration {value!r} must be a positive whole number of seconds",
                hint="e.g. timedelta(minutes=10) or '10m'",
            )
        return int(seconds)
    if isinstance(value, str):
        text = value.strip().lower()
        if not _WHOLE.match(text):
            raise DefinitionError(
                f"{where}: invalid duration {value!r}",
                hint="write a number followed by s, m, h, d or w, e.g. '10m', '1h', '7d' or '1h30m'",
            )
        total = sum(int(n) * UNIT_SECONDS[u] for n, u in _PART.findall(text))
        if total <= 0:
            raise DefinitionError(f"{where}: duration {value!r} must be positive", hint="e.g. '10m'")
        return total
    raise DefinitionError(
        f"{where}: a duration must be a string like '1h' or a timedelta, got {value!r}",
        hint="e.g. '10m', '1h', '7d' or timedelta(hours=1)",
    )


def format_seconds(seconds: int) -> str:
    """Canonical text of a duration: the fewest parts, largest units first (``5400 -> '1h30m'``)."""
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {seconds}")
    parts = []
    for unit, size in UNIT_SECONDS.items():
        if unit == "w":
            continue  # '14d' reads better than '2w' in feature names
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
