"""How many default points reach each cpu workload's target, and under softer target rules.

    python scripts/reference/target_reach.py RESULTS_DIR [-w WORKLOAD ...]

RESULTS_DIR holds the records of a self-tuning study (`scripts/reference/run.py --ruleset self`
or `bench study --ruleset self`); the targets come from workloads/targets/<workload>.json. Logic
and the rules compared: bench/target_reach.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from bench import target_reach
from workloads import targets as workload_targets


@click.command()
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-w", "--workload", "workloads", multiple=True,
              help="Workload (repeatable). Default: those with a targets report and records.")
def main(results_dir, workloads):
    """Default points' best metrics against each rule's target, per workload."""
    names = workloads or sorted(path.stem for path in workload_targets.DIRECTORY.glob("*.json"))
    console = Console()
    for name in names:
        report = workload_targets.read_report(name)
        best = target_reach.default_points_best(results_dir, report)
        if not best:
            continue
        found = target_reach.reach(report, best)
        table = Table(title=f"{name}: validation {report['target_metric']} "
                            f"({'higher' if found.higher_is_better else 'lower'} is better)")
        table.add_column("rule")
        table.add_column("target", justify="right")
        table.add_column("default points reaching it")
        for rule, target in found.targets.items():
            reaching = found.reaching[rule]
            table.add_row(rule, f"{target:.4f}", f"{len(reaching)} of {len(best)}: "
                                                 f"{', '.join(reaching) or '-'}")
        console.print(table)
        console.print("best per default point: " + ", ".join(
            f"{sub} {value:.4f}" for sub, value in sorted(best.items())), markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
