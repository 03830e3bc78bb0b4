"""How much does a workload's time to target depend on the seed? (issue 21)

    python benchmarks/seed_spread.py -w mnist1d_mlp [-s adamw -s nadamw ...] [--seeds 3]
        [--results-dir DIR] [--out FILE.json]
    python benchmarks/seed_spread.py --records RUN [-w W] [--rule "3rd configuration"]

A ranking by time to target is only as reproducible as the step at which one submission's runs
cross the target. This runs each submission's default point on `--seeds` seeds for the whole
step hint (evaluated on the cpu tier's fixed step grid, never stopping at the target), then, for
a few accuracy (or loss) levels that most runs reach, reports:

- within: per submission, the ratio of the latest to the earliest step at which its seeds reach
  the level (1.00: every seed at the same evaluation), the median over submissions;
- between: the ratio of the slowest to the fastest submission's median step to the level;
- reached: how many runs reach the level at all.

A workload ranks reproducibly when `within` is small beside `between`. The levels are the best
metric that 1/2, 3/4 and all but one of the runs reach, so they sit where runs end up, as a
hard target does. Steps, not seconds, so the machine's load does not enter. Records go to
`--results-dir` (rerunning skips the finished runs); each trial runs in its own process.

`--records RUN` runs nothing: it reads a self-tuning reference run (scripts/reference/run.py;
each study's trial 0 is the default point on the study's seed) and reports the same ratios at
one target per workload: the one in use, or what another rule of `bench.target_reach` sets from
the workload's target-setting report. A trial that met the target in use stopped there, so a
rule harder than it reads as missed.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from bench import api, registry, rules, target_reach, targets
from bench.protocol import ProtocolSettings
from workloads import targets as workload_targets

SUBMISSIONS = ("adamw", "nadamw", "lion", "sgd_nesterov")
SEED_OFFSET = 500  # distinct from the seeds target setting (0.., 100..) and studies use
NO_TIME_LIMIT = 3600.0


def full_hint_settings(step_hint: int) -> ProtocolSettings:
    """The whole step hint, evaluated on the cpu rules' step grid, never stopping at a target."""
    version = rules.MACHINE_CLOCK_VERSION  # steps are what count here
    every = rules.load(version).evaluation.every_steps(step_hint)
    return ProtocolSettings(max_runtime=NO_TIME_LIMIT, max_steps=step_hint, stop_at_target=False,
                            eval_every_steps=every, evaluate_test=False, rules=version)


def first_step(curve, level: float, higher: bool) -> int | None:
    """The first evaluated step whose metric meets `level`, or None."""
    reached = targets.first_reached(curve, level, higher)
    return None if reached is None else reached[0]


def levels(bests: list[float], higher: bool) -> dict[str, float]:
    """The metric reached by half, three quarters and all but one of the runs."""
    ordered = sorted(bests, reverse=higher)  # best first
    n = len(ordered)
    return {"1/2 of runs": ordered[(n - 1) // 2], "3/4 of runs": ordered[(3 * n - 1) // 4],
            "all but one": ordered[max(n - 2, 0)]}


def at_level(curves: dict[str, list[list]], level: float, higher: bool) -> dict:
    """Within- and between-submission ratios of the steps at which runs first reach `level`.

    `curves`: submission -> one curve per seed, each [(step, submission time, metric), ...].
    A submission enters `between` only when most of its seeds reach the level (its median
    step is then a step, not a miss).
    """
    within, medians, reached = [], [], 0
    for runs in curves.values():
        steps = [s for s in (first_step(curve, level, higher) for curve in runs) if s is not None]
        reached += len(steps)
        if len(steps) >= 2:
            within.append(max(steps) / max(min(steps), 1))
        if len(steps) * 2 > len(runs):
            medians.append(statistics.median(steps))
    return {"value": level, "reached": reached, "runs": sum(len(runs) for runs in curves.values()),
            "within": statistics.median(within) if within else None,
            "between": max(medians) / min(medians) if len(medians) >= 2 else None}


def spread(curves: dict[str, list[list]], higher: bool) -> list[dict]:
    """`at_level` for each of `levels` of the runs' best metrics."""
    bests = [targets.best_metric(curve, higher) for runs in curves.values() for curve in runs]
    found = levels([best for best in bests if best is not None], higher)
    return [{"level": name, **at_level(curves, value, higher)} for name, value in found.items()]


def run_curves(workload, submissions, seeds: int, results_dir: Path) -> dict[str, list[list]]:
    settings = full_hint_settings(workload.spec.step_hint)
    curves: dict[str, list[list]] = {}
    for name in submissions:
        submission = registry.get_submission(name)
        for index in range(seeds):
            print(f"{workload.name} {name} seed {index + 1}/{seeds}", file=sys.stderr)
            outcome = api.run_in_own_process(
                workload, submission, seed=SEED_OFFSET + index, ruleset="seed_spread",
                study=index, results_dir=results_dir, settings=settings)
            curve = targets.metric_curve(outcome.record, workload.spec.target_metric)
            curves.setdefault(name, []).append([list(point) for point in curve])
    return curves


def from_records(run: Path, workloads, rule: str) -> dict[str, list[dict]]:
    """Per workload of `run` (or `workloads`): `at_level` at the target `rule` sets."""
    names = workloads or sorted({p.parent.name for p in Path(run).glob("self/*/*/study_*")})
    found = {}
    for name in names:
        report = workload_targets.read_report(name)
        level = target_reach.candidate_targets(report)[rule]
        curves = target_reach.default_point_curves(run, name, report["target_metric"])
        if curves:
            found[name] = [{"level": rule, **at_level(curves, level, report["higher_is_better"])}]
    return found


def show(workload_name: str, rows: list[dict], console: Console) -> None:
    table = Table(title=f"{workload_name}: steps to a level, across seeds")
    for column in ("level", "value", "reached", "within (max/min over seeds)",
                   "between (slowest/fastest median)"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["level"], f"{row['value']:.5g}", f"{row['reached']}/{row['runs']}",
                      "-" if row["within"] is None else f"{row['within']:.2f}",
                      "-" if row["between"] is None else f"{row['between']:.2f}")
    console.print(table)


@click.command()
@click.option("-w", "--workload", "workloads", multiple=True,
              help="Workloads to measure (repeat) [default: mnist1d_mlp; with --records, every "
                   "workload of the run].")
@click.option("-s", "--submission", "submissions", multiple=True, default=SUBMISSIONS,
              show_default=True, help="Submissions whose default points run (repeat).")
@click.option("--seeds", type=click.IntRange(2), default=3, show_default=True)
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results-seed-spread"), show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("seed_spread.json"), show_default=True)
@click.option("--records", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Run nothing: read this self-tuning reference run's records.")
@click.option("--rule", type=click.Choice(target_reach.RULES), default=target_reach.RULES[0],
              show_default=True, help="With --records: the target rule the level comes from.")
def main(workloads, submissions, seeds, results_dir, out, records, rule):
    console = Console()
    if records is not None:
        found = from_records(records, workloads, rule)
        for name, rows in found.items():
            show(name, rows, console)
        out.write_text(json.dumps(found, indent=1))
        console.print(f"written {out}")
        return
    report = {}
    for name in workloads or ("mnist1d_mlp",):
        workload = registry.get_workload(name)
        curves = run_curves(workload, submissions, seeds, results_dir)
        rows = spread(curves, workload.spec.higher_is_better)
        show(name, rows, console)
        report[name] = {"levels": rows, "curves": curves}
    out.write_text(json.dumps(report, indent=1))
    console.print(f"written {out}")


if __name__ == "__main__":
    main()
