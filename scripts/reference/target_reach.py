"""How many default points reach each cpu workload's target, and under softer target rules.

    python scripts/reference/target_reach.py RESULTS_DIR [-w WORKLOAD ...]
    python scripts/reference/target_reach.py RESULTS_DIR --rescore "3rd configuration" \
        --against OTHER_RESULTS_DIR

Each workload's table gives every default point in every study: a hit with the share of the
budget it took, or a miss with how far its best metric fell short of the target, in standard
deviations of the target-setting reruns' best metrics (a miss by under 2 is a toss-up another
seed could turn into a hit). A last line counts the toss-ups over all workloads: a hit after 80%
of the budget, or a miss by under 2 of those standard deviations.

RESULTS_DIR holds the records of a self-tuning study (`scripts/reference/run.py --ruleset self`
or `bench study --ruleset self`); the targets come from workloads/targets/<workload>.json. Logic
and the rules compared: bench/target_reach.py.

With `--rescore RULE`, the records' outcomes and times to target are worked out again from their
evaluations for that rule's targets (rules no harder than the one in use only) and scored
(`bench.scoring.score`) as the leaderboard would have been; with `--against`, a second,
independent run is rescored the same way and Kendall's tau-b between the two printed, as
benchmarks/ranking_stability.py does for the records as they are. The rewritten records are
not trial records any more (`bench score` refuses them: their times are not those of their own
workload's target), so they are scored here and never written.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from bench import ranking, scoring, target_reach, targets
from bench.trial.record import read_as_written
from workloads import targets as workload_targets

console = Console()


@click.command()
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-w", "--workload", "workloads", multiple=True,
              help="Workload (repeatable). Default: those with a targets report and records.")
@click.option("--rescore", type=click.Choice(target_reach.RULES),
              help="Score the records again under this rule's targets.")
@click.option("--against", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="With --rescore: a second independent run, rescored and compared.")
def main(results_dir, workloads, rescore, against):
    """Default points' best metrics against each rule's target, per workload."""
    names = workloads or sorted(path.stem for path in workload_targets.DIRECTORY.glob("*.json"))
    reports = [workload_targets.read_report(name) for name in names]
    toss_ups, cells = [], 0
    for report in reports:
        found = print_reach(results_dir, report)
        cells += sum(len(row) for row in found.values())
        toss_ups += [(report["workload"], name) for name, row in found.items()
                     for cell in row if cell.toss_up]
    console.print(f"Toss-ups (a hit after {target_reach.LATE_HIT:.0%} of the budget or a miss "
                  f"by under {target_reach.NEAR_MISS:g} seed sds): {len(toss_ups)} of {cells} "
                  "cells, in " + (", ".join(f"{name} on {workload}" for workload, name
                                           in sorted(set(toss_ups))) or "none"), markup=False)
    if rescore:
        first = rescored_board(results_dir, reports, rescore)
        print_board(f"{results_dir} under '{rescore}'", first)
        if against:
            second = rescored_board(against, reports, rescore)
            print_board(f"{against} under '{rescore}'", second)
            comparison = ranking.compare(first.scores, second.scores, first.intervals,
                                         second.intervals)
            console.print(f"Kendall tau-b over {len(comparison.common)} submissions: "
                          f"{comparison.tau:.3f}; pairs that swap: {len(comparison.swaps)}")
    return 0


def print_reach(results_dir: Path, report: dict) -> dict[str, list[target_reach.Cell]]:
    """Print one workload's tables; its cells (submission -> one per study)."""
    records = target_reach.default_point_records(results_dir, report["workload"])
    best = target_reach.default_points_best(records, report)
    if not best:
        return {}
    found = target_reach.reach(report, best)
    table = Table(title=f"{report['workload']}: validation {report['target_metric']} "
                        f"({'higher' if found.higher_is_better else 'lower'} is better)")
    for column in ("rule", "target", "default points reaching it"):
        table.add_column(column)
    for rule, target in found.targets.items():
        reaching = found.reaching[rule]
        table.add_row(rule, f"{target:.4f}",
                      f"{len(reaching)} of {len(best)}: {', '.join(reaching) or '-'}")
    console.print(table)
    console.print("best per default point: " + ", ".join(
        f"{sub} {value:.4f}" for sub, value in sorted(best.items())), markup=False)
    cells = target_reach.default_point_cells(records, report)
    print_cells(report, cells)
    return cells


def print_cells(report: dict, cells: dict[str, list[target_reach.Cell]]) -> None:
    """Each default point in each study: a hit's share of the budget, a miss's shortfall."""
    table = Table(title=f"{report['workload']}: each study against the target "
                        f"(a miss's shortfall in seed sds: {target_reach.seed_spread(report):.4g})")
    table.add_column("submission")
    for study in range(max(len(row) for row in cells.values())):
        table.add_column(f"study {study}", justify="right")
    for name, row in sorted(cells.items()):
        table.add_row(name, *(describe(cell) for cell in row))
    console.print(table)


def describe(cell: target_reach.Cell) -> str:
    if cell.hit:
        return "hit" if cell.budget_fraction is None else f"hit at {cell.budget_fraction:.0%}"
    return f"short by {cell.shortfall:.1f}"


def rescored_board(results_dir: Path, reports: list[dict], rule: str) -> scoring.Leaderboard:
    """The self-tuning leaderboard of `results_dir`'s records under `rule`'s targets."""
    records = []
    for report in reports:
        target = target_reach.candidate_targets(report)[rule]
        if not targets.meets(report["validation_target"], target, report["higher_is_better"]):
            raise click.UsageError(f"{report['workload']}: the rule's target {target:.4f} is "
                                   "harder than the one the records ran against; they cannot tell")
        paths = sorted(results_dir.glob(f"self/*/{report['workload']}/study_*/trial_*.json"))
        read, problems = read_as_written(paths)
        for path, problem in problems:
            console.print(f"[yellow]skipped[/] {path}: {problem}")
        records += [target_reach.retargeted(record, report["target_metric"], target,
                                            report["higher_is_better"]) for _, record in read]
    return scoring.score(records, ruleset="self")


def print_board(title: str, board: scoring.Leaderboard) -> None:
    table = Table(title=title)
    table.add_column("submission")
    table.add_column("score", justify="right")
    for name, value in sorted(board.scores.items(), key=lambda item: -item[1]):
        table.add_row(name, f"{value:.3f}")
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
