"""Output that survives pipes and narrow terminals, and JSON for other programs.

- `print_table`: a Rich table whose figures are never cut. Names and headers fold onto more lines
  when the terminal is narrow; a column of figures is never narrower than its longest figure.
  When even that does not fit, the table is printed wider than the terminal (the terminal wraps
  the lines; nothing is lost). Into a pipe or a file, tables are printed at their natural width.
- `print_json`: one JSON document on stdout, with NaN and infinity written as null, for the
  `--json` option of `list`, `run`, `score`, `compare` and `check`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path

import click
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

UNLIMITED = 10_000  # columns: wide enough to measure any table's natural width
NAME_WIDTH = 10  # a name column folds down to this width before the table outgrows the terminal


def longest_word(cell) -> int:
    text = Text.from_markup(cell) if isinstance(cell, str) else cell
    plain = text.plain if isinstance(text, Text) else str(text)
    return max((len(word) for word in plain.split()), default=0)


def print_table(table: Table, console: Console) -> None:
    """Print `table` on `console` without cutting a figure (see the module docstring)."""
    width = console.width
    if console.is_terminal:
        needed = fit_to_terminal(table)
    else:
        wide = console.options.update_width(UNLIMITED)
        needed = Measurement.get(console, wide, table).maximum
    if needed <= width:
        console.print(table)
        return
    console.width = needed
    try:
        console.print(table)
    finally:
        console.width = width


def fit_to_terminal(table: Table) -> int:
    """Let names and headers fold, keep each column of figures as wide as its longest figure;
    the narrowest width the table can then take."""
    needed = 1  # the left border; each column adds its padding and a border
    for column in table.columns:
        column.overflow = "fold"
        widest = max((longest_word(cell) for cell in column.cells), default=1)
        if column.justify == "right":  # a column of figures: never split a figure
            column.no_wrap = False
            column.min_width = max(column.min_width or 0, widest)
            needed += column.min_width + 3
        else:
            needed += min(widest, NAME_WIDTH) + 3
    return needed


def jsonable(value):
    """`value` as plain JSON data: dataclasses and mappings as objects, paths as strings, NaN and
    infinity as null, numpy scalars and arrays as numbers and lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(data) -> None:
    """One JSON document on stdout (never wrapped, never coloured)."""
    click.echo(json.dumps(jsonable(data), indent=1, allow_nan=False))
