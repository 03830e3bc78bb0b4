"""Figures written to files: matplotlib without a display, and one way to save and close them.

Every plot the project writes (leaderboard profiles and curves, `bench predict`, `bench refine`,
`bench sensitivity`) is drawn with `pyplot()` and written with `save_figure`, so each one gets
the non-interactive Agg backend, a folder that exists, and its memory back once written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot():
    """`matplotlib.pyplot` on the Agg backend (files only; works without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, *paths: str | Path, **savefig_options: Any) -> list[Path]:
    """Write `figure` to every path (their folders made when missing), then close it.

    `savefig_options` go to `Figure.savefig` (e.g. bbox_inches="tight"); each path's suffix
    picks its format.
    """
    written = []
    for path in map(Path, paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, **savefig_options)
        written.append(path)
    pyplot().close(figure)
    return written
