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
        needed = fit_to_terminal(table, width)
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


def fit_to_terminal(table: Table, width: int) -> int:
    """Let names fold; keep each column of figures as wide as its longest figure, and as its
    header's longest word too when the table still fits in `width` then (otherwise headers fold
    as well). Returns the narrowest width the table can take."""
    for column in table.columns:
        column.overflow = "fold"
    figures = [c for c in table.columns if c.justify == "right"]
    body = {id(c): max((longest_word(cell) for cell in c.cells), default=1) for c in figures}
    header = {id(c): max(body[id(c)], longest_word(c.header)) for c in figures}
    names = sum(min(max((longest_word(cell) for cell in c.cells), default=1), NAME_WIDTH)
                for c in table.columns if c.justify != "right")
    borders = 1 + 3 * len(table.columns)  # the left border; each column's padding and border
    needed = borders + names + sum(header.values())
    chosen = header if needed <= width else body
    for column in figures:  # a column of figures: never split a figure
        column.no_wrap = False
        column.min_width = max(column.min_width or 0, chosen[id(column)])
    return borders + names + sum(chosen.values())


def jsonable(value):
    """`value` as plain JSON data: dataclasses and mappings as objects, paths as strings, NaN and
    infinity as null, numpy scalars and arrays as numbers and lists."""
    if isinstance(value, Mapping):  # before dataclasses: a trial Record is both
        return {str(key): jsonable(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
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
