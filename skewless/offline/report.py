"""The report of invalid rows: which rows, which columns and why, merged across a file's batches."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from skewless.errors import DataValidationError

EXAMPLE_ROWS: Final = 10

Describe = Callable[[int], str]
"""Why row ``i`` (of the batch) is invalid."""


@dataclass
class RowReport:
    """Bad-row masks per column of one batch; raises one :class:`DataValidationError` for all."""

    source: str
    num_rows: int
    row_offset: int
    found: list[tuple[str, np.ndarray, Describe]] = field(default_factory=list)

    def add(self, column: str, mask: np.ndarray, describe: Describe) -> None:
        if mask.any():
            self.found.append((column, mask, describe))

    def bad_in(self, column: str) -> np.ndarray:
        bad = np.zeros(self.num_rows, dtype=bool)
        for name, mask, _ in self.found:
            if name == column:
                bad |= mask
        return bad

    def raise_if_any(self) -> None:
        if not self.found:
            return
        bad = np.zeros(self.num_rows, dtype=bool)
        for _, mask, _ in self.found:
            bad |= mask
        rows = np.flatnonzero(bad)
        problems = tuple(
            (int(row) + self.row_offset, column, describe(int(row)))
            for row in rows[:EXAMPLE_ROWS]
            for column, mask, describe in self.found
            if mask[row]
        )
        columns = {column: int(self.bad_in(column).sum()) for column, _, _ in self.found}
        raise invalid_rows_error(self.source, problems, invalid_rows=len(rows), total_rows=self.num_rows, columns=columns)


def invalid_rows_error(
    source: str, problems: Iterable[tuple[int, str, str]], *, invalid_rows: int, total_rows: int, columns: dict[str, int]
) -> DataValidationError:
    """The error :func:`~skewless.offline.validate.validate_rows` raises: counts, then the first rows with reasons."""
    problems = tuple(problems)
    by_row: dict[int, list[str]] = {}
    for row, column, reason in problems:
        by_row.setdefault(row, []).append(f"{column}: {reason}")
    counts = ", ".join(f"{name} ({count:,})" for name, count in columns.items())
    lines = [f"source {source!r}: {invalid_rows:,} of {total_rows:,} rows are invalid; nothing was written"]
    lines.append(f"  columns: {counts}")
    lines += [f"  row {row}: " + "; ".join(reasons) for row, reasons in by_row.items()]
    if invalid_rows > len(by_row):
        lines.append(f"  ... and {invalid_rows - len(by_row):,} more rows")
    return DataValidationError(
        "\n".join(lines),
        hint="fix or drop these rows (numbered from 0) and write again",
        problems=problems,
        invalid_rows=invalid_rows,
        columns=columns,
    )


class MergedReport:
    """The reports of a file's batches, merged into one."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[tuple[int, str, str]] = []
        self.invalid_rows = 0
        self.columns: dict[str, int] = {}

    def add(self, exc: DataValidationError) -> None:
        shown = {row for row, _, _ in self.problems}
        for row, column, reason in exc.problems:
            if row not in shown and len(shown) >= EXAMPLE_ROWS:
                break
            shown.add(row)
            self.problems.append((row, column, reason))
        self.invalid_rows += exc.invalid_rows
        for column, count in exc.columns.items():
            self.columns[column] = self.columns.get(column, 0) + count

    def raise_if_any(self, *, total_rows: int) -> None:
        if self.invalid_rows:
            raise invalid_rows_error(
                self.source, self.problems, invalid_rows=self.invalid_rows, total_rows=total_rows, columns=self.columns
            )
