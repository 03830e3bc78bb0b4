"""A default point against each cpu workload's target as its learning rate alone is scaled.

    python scripts/reference/default_point_lr.py [-s nadamw] [-w WORKLOAD ...] \
        [--factors 1,2,4,8] [--hparam NAME=VALUE ...] [--results-dir DIR]

Issue 21 asks whether the workloads or the target rule keep the default points from the
targets. For each workload this trains the submission's default point with its learning rate
multiplied by each factor, for the workload's step hint (`bench.sensitivity.run_sweep`: one
seed, no time limit, evaluated at the last step; points already recorded are read back). It
prints the validation metric after the last step beside the target, and how far beyond the
target that lies in standard deviations of the target-setting reruns' best metrics
(`bench.target_reach.beyond_target`): below -2, few seeds would meet the target; above +2,
nearly all would. `--hparam` changes another hyperparameter of the default point as well (give
such a sweep its own `--ruleset`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from bench import registry, sensitivity, target_reach, targets
from bench import submission as submission_module
from workloads import targets as workload_targets

console = Console()


def scaled_rates(default: float, factors: list[float]) -> list[float]:
    """The default learning rate times each factor, to 5 significant digits."""
    return [float(f"{default * factor:.5g}") for factor in factors]


def measure(workload, submission, report: dict, factors: list[float], results_dir: Path,
            hparams: dict | None = None, ruleset: str = "default-point-lr") -> list[dict]:
    """One row per factor (ascending): the learning rate, the validation metric after the
    step hint, and how far beyond `report`'s target it lies in seed sds (plain data)."""
    rates = scaled_rates(submission.default_hparams["learning_rate"], sorted(factors))
    try:
        sweep = sensitivity.run_sweep(workload, submission, rates, results_dir=results_dir,
                                      hparams=hparams, ruleset=ruleset)
    except sensitivity.SensitivityError as error:
        raise click.ClickException(str(error))
    rows = []
    for factor, point in zip(sorted(factors), sorted(sweep.points,
                                                     key=lambda p: p.learning_rate)):
        curve = targets.metric_curve(json.loads(point.record_path.read_text()),
                                     report["target_metric"])
        value = curve[-1][2] if curve else float("nan")
        rows.append({"workload": report["workload"], "factor": factor,
                     "learning_rate": point.learning_rate, "metric": value,
                     "target": report["validation_target"],
                     "beyond": target_reach.beyond_target(value, report)})
    return rows


def parse_factors(text: str) -> list[float]:
    try:
        factors = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: give comma-separated numbers, e.g. 1,2,4,8")
    if not factors or min(factors) <= 0:
        raise click.BadParameter("factors must be positive")
    return sorted(set(factors))


@click.command()
@click.option("-s", "--submission", default="nadamw", show_default=True)
@click.option("-w", "--workload", "workloads", multiple=True,
              help="Workload (repeatable). Default: every cpu workload with a targets report.")
@click.option("--factors", default="1,2,4,8", show_default=True,
              help="Multiples of the default learning rate.")
@click.option("--hparam", "overrides", multiple=True, metavar="NAME=VALUE",
              help="Also set this hyperparameter of the default point (VALUE read as JSON).")
@click.option("--ruleset", default="default-point-lr", show_default=True,
              help="Ruleset name of the records (another one for a sweep with --hparam).")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True)
def main(submission, workloads, factors, overrides, ruleset, results_dir):
    """A default point's metric against each workload's target, learning rate scaled."""
    factors = parse_factors(factors)
    try:
        base = dict(submission_module.parse_hparam_assignment(text) for text in overrides)
    except submission_module.HparamsError as error:
        raise click.BadParameter(str(error), param_hint="--hparam")
    sub = registry.get_submission(submission)
    if "learning_rate" not in sub.default_hparams:
        raise click.ClickException(f"{submission} has no learning_rate to scale")
    names = workloads or sorted(
        name for name in (path.stem for path in workload_targets.DIRECTORY.glob("*.json"))
        if registry.get_workload(name).spec.tier == "cpu")
    table = Table(title=f"{submission}'s default point, learning rate scaled "
                        f"(validation metric after the step hint)")
    for column in ("workload", "factor", "learning rate", "metric", "target", "beyond (sds)"):
        table.add_column(column, justify="left" if column == "workload" else "right")
    for name in names:
        rows = measure(registry.get_workload(name), sub, workload_targets.read_report(name),
                       factors, results_dir, base, ruleset)
        for row in rows:
            table.add_row(name, f"{row['factor']:g}", f"{row['learning_rate']:.5g}",
                          f"{row['metric']:.5g}", f"{row['target']:.5g}",
                          f"{row['beyond']:+.1f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
