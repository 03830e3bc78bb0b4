"""Which trials of a run were timed on a busy machine? Read off their evaluation curves.

    python scripts/reference/steadiness.py RESULTS_DIR [RESULTS_DIR ...] [--slow-only] [--set-aside]

For every submission and workload under the results directories: the trials, how many of them
ran unsteadily (more than 5% of their evaluation intervals slower per step than 1.3x the trial's
fast ones) and how many ran slow against their siblings (the same submission's trials of the
same workload in other studies: a median step time over 1.3x the fastest of them). Either means
another job, or the host, took a share of the cores, or that the submission's own steps vary in
cost. Trials timed in reference seconds (rules cpu-v3) are judged against their siblings
alone ("n/a" under unsteady): their intervals stray with the clock's rate estimate. The rules and
the measurements behind them: bench/steadiness.py.

`--slow-only` flags only the trials slow against their siblings: on a host whose slowdowns come
often, those are the ones whose times moved most. `--set-aside` moves the flagged records aside
(renamed, nothing deleted), so that running the same `scripts/reference/run.py` command again
measures those trials again. Their seeds are the same and evaluations are at fixed steps, so the
reruns reach the same metrics at the same steps; only their times change.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from bench import steadiness  # noqa: E402
from bench.trial.record import read_as_written, record_paths, set_aside  # noqa: E402


def read_runs(results_dirs) -> dict[tuple[str, str], list[tuple[Path, dict]]]:
    """The records under `results_dirs` as written (only names and evaluations are needed, so
    any schema), grouped by (submission, workload)."""
    read, problems = read_as_written(record_paths(results_dirs))
    for path, problem in problems:
        print(f"skipped {path}: {problem}", file=sys.stderr)
    groups = collections.defaultdict(list)
    for path, record in read:
        groups[(str(record.get("submission")), str(record.get("workload")))].append(
            (path, record))
    return groups


@click.command()
@click.argument("results_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--set-aside", "move", is_flag=True,
              help="Move the flagged records aside, so the reference run measures them again.")
@click.option("--slow-only", is_flag=True,
              help="Flag only the trials slow against their siblings (a median step time over "
                   "1.3x), not those with slow stretches: on a host whose slowdowns come often, "
                   "the ones that move a time most.")
def main(results_dirs: tuple[Path, ...], move: bool, slow_only: bool) -> None:
    """List, per submission and workload, the trials timed while the machine was busy."""
    table = Table(title="Steadiness of the trials' step times")
    for column in ("submission", "workload", "trials", "unsteady", "slow vs siblings",
                   "largest slow share"):
        table.add_column(column)
    flagged, total = [], 0
    for (submission, workload), runs in sorted(read_runs(results_dirs).items()):
        records = [record for _, record in runs]
        shares = [steadiness.record_slow_share(record) for record in records]
        slow = steadiness.slow_against_siblings(
            [steadiness.median_step_time(*steadiness.record_curve(r)) for r in records])
        judged = [share for share in shares if share is not None]
        unsteady = sum(map(steadiness.record_unsteady, records))
        if all(map(steadiness.on_reference_clock, records)):
            unsteady = "n/a"  # reference seconds: judged against siblings only
        table.add_row(submission, workload, str(len(runs)), str(unsteady), str(sum(slow)),
                      f"{max(judged):.0%}" if judged else "-")
        bad = slow if slow_only else steadiness.suspect(records)
        flagged += [path for (path, _), is_bad in zip(runs, bad) if is_bad]
        total += len(runs)
    Console().print(table)
    if slow_only:
        print(f"{len(flagged)} of {total} trials slow against their siblings (a median step "
              f"time over {steadiness.SLOW_FACTOR}x the fastest sibling's)")
    else:
        print(f"{len(flagged)} of {total} trials unsteady or slow against their siblings (over "
              f"{steadiness.UNSTEADY_SHARE:.0%} of intervals, or the median, slower than "
              f"{steadiness.SLOW_FACTOR}x)")
    if move:
        for path in flagged:
            print(f"set aside {path} as {set_aside(path).name}")
        if flagged:
            print("Run the same scripts/reference/run.py command again to measure them again.")


if __name__ == "__main__":
    main()
