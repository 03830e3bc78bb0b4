"""Which trials of a run were timed on a busy machine? Read off their evaluation curves.

    python scripts/reference/steadiness.py RESULTS_DIR [RESULTS_DIR ...]

For every submission and workload under the results directories: the trials, how many of them
ran unsteadily (more than 5% of their evaluation intervals slower per step than 1.3x the trial's
fast ones: another job took a share of the cores, or the submission's own steps vary in cost),
and the largest share of slow intervals. The rule and the measurements behind it:
bench/steadiness.py. A reference leaderboard made while other jobs ran shows up here; run its
unsteady trials again (move their records aside) on a quiet machine.
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from bench import steadiness  # noqa: E402
from bench.trial.record import record_paths  # noqa: E402


@click.command()
@click.argument("results_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
def main(results_dirs: tuple[Path, ...]) -> None:
    """List, per submission and workload, the trials timed while the machine was busy."""
    records = []  # read as written: only the names and evaluations are needed, any schema
    for path in record_paths(results_dirs):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError) as error:
            print(f"skipped {path}: {error}", file=sys.stderr)
    shares = collections.defaultdict(list)
    for record in records:
        shares[(record.get("submission", "?"), record.get("workload", "?"))].append(
            steadiness.record_slow_share(record))
    table = Table(title="Steadiness of the trials' step times")
    for column in ("submission", "workload", "trials", "judged", "unsteady", "largest slow share"):
        table.add_column(column)
    unsteady_total = 0
    for (submission, workload), values in sorted(shares.items()):
        judged = [share for share in values if share is not None]
        unsteady = sum(steadiness.is_unsteady(share) for share in judged)
        unsteady_total += unsteady
        table.add_row(submission, workload, str(len(values)), str(len(judged)), str(unsteady),
                      f"{max(judged):.0%}" if judged else "-")
    Console().print(table)
    print(f"{unsteady_total} of {len(records)} trials unsteady (more than "
          f"{steadiness.UNSTEADY_SHARE:.0%} of intervals slower than {steadiness.SLOW_FACTOR}x "
          "the trial's fast step time)")


if __name__ == "__main__":
    main()
