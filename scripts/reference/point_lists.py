"""The baselines' point lists for the external-tuning board, derived from the target-setting search.

    python scripts/reference/point_lists.py            # print the lists and their costs
    python scripts/reference/point_lists.py --write    # write each baseline's point_list.json
    python scripts/reference/point_lists.py --search 6 --results-dir ~/bench-lists --write
                                                       # how the committed lists were made

`bench set-targets` ran each baseline (nadamw, sgd_nesterov, adamw) at the same quasi-random
points of its search space on every cpu workload, for 3/4 of the step hint, and kept each run's
best validation metric in workloads/targets/<workload>.json. This script orders each baseline's
points into a list by `bench.point_lists` (greedy: each next point covers most of what the list
still misses, the cost being the shortfall from the target in seed sds), over the base workloads
only: the held-out variants (mnist1d_gelu) are kept out, so they test the lists. Every point
keeps the horizon the search ran at (`horizon_factor` = 3/4, the target-setting runs' length).

With `--search N --results-dir DIR` it first widens the search: each baseline at N more points of
its search space on every base workload, run as `bench set-targets` runs its points but at seed
offset 200,000 (other quasi-random draws, other seeds), without touching the targets. Each
workload's search goes to workloads/targets/search/<workload>.json (every point and its best
metric, the command and the machine), and the lists are then ordered from set-targets' points
and these together. Records go to DIR; an interrupted search resumes there.

`scripts/reference/run.py` gives a submission's point_list.json to its external studies
(`bench study --search-space`): a study of n trials runs the list's first n points, as AlgoPerf's
externally tuned NadamW baseline runs its list. A list is written `--length` long (default: the
board's trials per study).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from bench import environment, point_lists, registry, targets  # noqa: E402
from workloads.targets import DIRECTORY as TARGETS_DIRECTORY  # noqa: E402
from workloads.targets import read_report  # noqa: E402

SEARCH_DIRECTORY = TARGETS_DIRECTORY / "search"
SEARCH_SEED_OFFSET = 200_000  # past set-targets' draws (offset 0), short of the boards' offsets
DEFAULT_LENGTH = 3  # scripts/reference/run.py's external trials per study


def base_cpu_workloads() -> list[str]:
    """The cpu-tier workloads that are not held-out variants, by name."""
    return sorted(name for name, workload in registry.all_workloads().items()
                  if workload.spec.tier == "cpu" and workload.spec.variant_of is None)


def search_path(workload: str) -> Path:
    return SEARCH_DIRECTORY / f"{workload}.json"


def run_search(workload: str, baselines, trials: int, results_dir: Path, console) -> dict:
    """`trials` more points of each baseline on `workload`, run as set-targets tunes but at
    SEARCH_SEED_OFFSET (no target is set); the search as plain data."""
    report = read_report(workload)
    configurations = []
    for baseline in baselines:
        def on_trial(index, total, planned, outcome, baseline=baseline):
            if outcome is None:
                console.print(f"{workload}: {baseline} point {planned.trial + 1}/{trials} ...",
                              markup=False)

        configurations += targets.tune(registry.get_workload(workload), report["step_hint"],
                                       [baseline], trials, results_dir, on_trial,
                                       SEARCH_SEED_OFFSET)
    return {"workload": workload, "step_hint": report["step_hint"],
            "target_setting_steps": targets.target_setting_steps(report["step_hint"]),
            "trials": trials, "baselines": list(baselines), "seed_offset": SEARCH_SEED_OFFSET,
            "command": shlex.join(["python", "scripts/reference/point_lists.py", *sys.argv[1:]]),
            "hardware": targets.machine(), "versions": environment.versions(),
            "configurations": [dataclasses.asdict(c) for c in configurations]}


def searched_report(workload: str) -> dict:
    """`workload`'s target report, with its broader search's points added to the configurations
    where one was run (the target and the seeds' spread stay the report's)."""
    report = read_report(workload)
    if search_path(workload).exists():
        search = json.loads(search_path(workload).read_text())
        report = {**report, "configurations": report["configurations"] + search["configurations"]}
    return report


def list_path(submission: str) -> Path:
    return registry.get_submission(submission).path.parent / point_lists.FILE_NAME


def table(derived: point_lists.DerivedList) -> Table:
    """Each listed point's cost per workload (0: it met the target), and the list's."""
    out = Table(title=f"{derived.submission}: cost in seed sds (0 = meets the target, "
                      f"{point_lists.FAR:g} = far or no metric)")
    out.add_column("workload")
    for index, point in enumerate(derived.points):
        out.add_column(f"{index + 1}. lr {point.get('learning_rate', float('nan')):.3g}",
                       justify="right")
    out.add_column("list", justify="right", style="bold")
    for j, (workload, cost) in enumerate(derived.covered().items()):
        out.add_row(workload, *(f"{row[j]:.1f}" for row in derived.costs), f"{cost:.1f}")
    return out


@click.command(help=__doc__.split("\n\n")[0])
@click.option("--baseline", "-s", "baselines", multiple=True,
              help="Baseline (repeatable). Default: bench set-targets' baselines.")
@click.option("--length", default=DEFAULT_LENGTH, show_default=True, type=click.IntRange(min=1),
              help="Points per list.")
@click.option("--write", is_flag=True,
              help=f"Write submissions/<baseline>/{point_lists.FILE_NAME}.")
@click.option("--search", "search_trials", type=click.IntRange(min=1),
              help="First run this many points per baseline on each base workload "
                   "(workloads/targets/search/).")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the search's trial records go (required with --search).")
def main(baselines, length, write, search_trials, results_dir):
    console = Console()
    workloads = base_cpu_workloads()
    baselines = baselines or targets.BASELINES
    if search_trials:
        if results_dir is None:
            raise click.UsageError("--search needs --results-dir (outside the repository)")
        if results_dir.resolve().is_relative_to(REPO):
            raise click.UsageError(f"--results-dir {results_dir} is inside the repository; "
                                   "trial records stay outside it")
        SEARCH_DIRECTORY.mkdir(exist_ok=True)
        for workload in workloads:
            search = run_search(workload, baselines, search_trials, results_dir, console)
            search_path(workload).write_text(json.dumps(search, indent=1) + "\n")
            console.print(f"wrote {search_path(workload)}")
    reports = [searched_report(workload) for workload in workloads]
    fixed = {"horizon_factor": targets.TARGET_SETTING_FRACTION}
    for baseline in baselines:
        try:
            derived = point_lists.derive(reports, baseline, length, fixed)
        except point_lists.PointListError as error:
            raise click.ClickException(str(error)) from error
        console.print(table(derived))
        if write:
            path = list_path(baseline)
            path.write_text(json.dumps(derived.points, indent=1) + "\n")
            console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
