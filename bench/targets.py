"""Setting a cpu workload's target and budget the AlgoPerf way: `bench set-targets`.

AlgoPerf (Dahl et al. 2023, "Benchmarking Neural Network Training Algorithms", arXiv 2306.07179,
sec. 4 "Setting targets") tunes several strong baselines with a fixed step budget, reruns the best
configuration on several seeds and sets the validation target to the median of their best
validation metric: a target a well-tuned baseline reaches in half its runs, so a hard one. Here:

1. tune: each baseline (default NadamW, Nesterov momentum, AdamW: `BASELINES`) runs `trials`
   quasi-random points of its own search space (`search_space.json`, as external tuning draws
   them: `bench.tuning`), each for `target_setting_steps(step_hint)` = int(3/4 * step_hint)
   steps, told the whole step hint, with the point's `horizon_factor` at 3/4 (the baselines'
   search spaces fix it; `check_horizon`) so its schedule ends where the run does; evaluating
   every 1% of the workload's step hint (the grid scored runs use) and never stopping at a
   target (`ProtocolSettings.stop_at_target=False`);
2. choose: the configuration (baseline and point) whose best validation metric is best;
3. repeat: that configuration on `seeds` new seeds, for the same 3/4 of the step hint;
4. target: the median over those seeds of each run's best validation metric;
5. budget: `max_runtime` = the median over the seeds that reach the target of the submission
   time at which they do, divided by `TARGET_AT_BUDGET_FRACTION` (3/4), rounded up to 0.5 s.
   So the target-setting configuration reaches the target at about 3/4 of the budget on the
   machine the procedure ran on, and a submission whose schedule spans the whole step hint has
   a third more steps than the runs that set the target.

The reports in workloads/targets/ were written before the horizon existed: their runs were told
3/4 of the step hint as their step hint, which trains the same steps on the same schedule
(tests/test_horizon.py).

The 3/4 in step 1 is AlgoPerf's: its target-setting algorithms (mlcommons/algorithmic-efficiency,
reference_algorithms/target_setting_algorithms/jax_nadamw.py, jax_nesterov.py, jax_adamw.py)
build their warmup and decay over `int(0.75 * workload.step_hint)` steps, while its self-tuning
baseline (prize_qualification_baselines/self_tuning/jax_nadamw_full_budget.py) spans the whole
step hint. Training the target-setting runs for the full step hint instead (this module until
then) gave targets that the shipped submissions' default points, whose schedules span the step
hint, missed on most cpu workloads: their best metric fell short of the target by about one seed's
spread, so a score rested on one or two workloads.

Where this differs from AlgoPerf: AlgoPerf tuned with about 200 trials per baseline and reran the
best configuration on 20 seeds; the cpu tier uses a few trials (the default 5) and 5 seeds, so its
targets are softer. AlgoPerf set the runtime budget from the target-setting runs' time to target
at the step hint with a separate rule per workload; here it is the one 3/4 rule above. And here
evaluations are at fixed steps, so steps to target per seed do not depend on the machine.

The procedure's output (`TargetReport`: every configuration tried with its best metric, the
chosen one, each seed's evaluation curve, the target and the budget, the command and the
machine) is written to workloads/targets/<workload>.json, which the workload module reads its
target, step hint and budget from (`workloads.targets.spec_fields`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import api, environment, registry, rules, schedules, tuning
from bench.protocol import ProtocolSettings
from bench.trial.record import Record
from workloads import targets as workload_targets

BASELINES = ("nadamw", "sgd_nesterov", "adamw")
DEFAULT_TRIALS = 5
DEFAULT_SEEDS = 5
SEED_OFFSET = 100  # the repeat runs' seeds: 100, 101, ... (tuning trials use 0, 1, ...)
TARGET_AT_BUDGET_FRACTION = 0.75
TARGET_SETTING_FRACTION = 0.75  # of the step hint: AlgoPerf's target-setting run length
BUDGET_ROUNDING = 0.5  # seconds
RULES_VERSION = "cpu-v2"
NO_TIME_LIMIT = 3600.0  # seconds of submission time: target-setting runs stop at the step hint


class TargetsError(ValueError):
    """Target setting cannot go on (no configuration trained, no targets file): says why."""


@dataclasses.dataclass(frozen=True)
class Configuration:
    """One baseline point tried, and the best validation metric its run reached."""

    submission: str
    hparams: dict[str, Any]
    seed: int
    best_metric: float | None  # None: the run ended without a finite metric (diverged, error)
    outcome: str


@dataclasses.dataclass(frozen=True)
class SeedRun:
    """The chosen configuration on one seed: its curve and when it met the final target."""

    seed: int
    best_metric: float
    curve: list[tuple[int, float, float]]  # (step, submission time, validation metric)
    steps_to_target: int | None = None
    time_to_target: float | None = None


@dataclasses.dataclass(frozen=True)
class TargetReport:
    """Everything `set_targets` did and decided; written as workloads/targets/<workload>.json."""

    workload: str
    rules: str
    target_metric: str
    higher_is_better: bool
    step_hint: int
    target_setting_steps: int
    eval_every_steps: int
    validation_target: float
    max_runtime: float
    chosen: Configuration
    configurations: list[Configuration]
    seeds: list[SeedRun]
    command: str
    hardware: dict
    versions: dict

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> TargetReport:
        data = dict(data)
        # reports written before the 3/4 rule trained their runs for the whole step hint
        data.setdefault("target_setting_steps", data["step_hint"])
        data["chosen"] = Configuration(**data["chosen"])
        data["configurations"] = [Configuration(**c) for c in data["configurations"]]
        data["seeds"] = [SeedRun(**{**s, "curve": [tuple(p) for p in s["curve"]]})
                         for s in data["seeds"]]
        return cls(**data)


# ---------------------------------------------------------------- pure pieces of the procedure


def metric_curve(record: Record | dict, metric: str) -> list[tuple[int, float, float]]:
    """(step, submission time, validation metric) at each evaluation of a record, in order."""
    evals = record.evals if isinstance(record, Record) else record["evals"]
    key = f"validation/{metric}"
    return [(int(row["step"]), float(row["submission_time"]), float(row[key]))
            for row in evals if key in row]


def best_metric(curve, higher_is_better: bool) -> float | None:
    """The best finite metric on a curve (max or min), or None when there is none."""
    values = [value for _, _, value in curve if math.isfinite(value)]
    if not values:
        return None
    return max(values) if higher_is_better else min(values)


def choose(configurations: Sequence[Configuration], higher_is_better: bool) -> Configuration:
    """The configuration with the best best-metric (the first of equals)."""
    scored = [c for c in configurations if c.best_metric is not None]
    if not scored:
        raise TargetsError("no configuration reached a finite validation metric; "
                           "check the baselines' search spaces and the step hint")
    sign = 1.0 if higher_is_better else -1.0
    return max(scored, key=lambda c: sign * c.best_metric)


def median_target(best_metrics: Sequence[float]) -> float:
    """The median of the seeds' best metrics (for an even count, the mean of the middle two)."""
    if not best_metrics:
        raise TargetsError("no seed run to set the target from")
    return float(np.median(best_metrics))


def meets(value: float, target: float, higher_is_better: bool) -> bool:
    """Whether a validation metric `value` meets `target` (at or beyond it)."""
    return value >= target if higher_is_better else value <= target


def first_reached(curve, target: float, higher_is_better: bool) -> tuple[int, float] | None:
    """(step, submission time) of the first evaluation meeting `target`, or None."""
    for step, seconds, value in curve:
        if meets(value, target, higher_is_better):
            return step, seconds
    return None


def budget_for(times_to_target: Sequence[float]) -> float:
    """`max_runtime`: the median time to target over `TARGET_AT_BUDGET_FRACTION`, rounded up."""
    if not times_to_target:
        raise TargetsError("no seed run reached the target")
    seconds = float(np.median(times_to_target)) / TARGET_AT_BUDGET_FRACTION
    return math.ceil(seconds / BUDGET_ROUNDING) * BUDGET_ROUNDING


def seed_runs_at(target: float, runs: Sequence[SeedRun], higher_is_better: bool) -> list[SeedRun]:
    """The seed runs with when each first met `target` filled in."""
    done = []
    for run in runs:
        reached = first_reached(run.curve, target, higher_is_better)
        steps, seconds = reached if reached else (None, None)
        done.append(dataclasses.replace(run, steps_to_target=steps, time_to_target=seconds))
    return done


# ------------------------------------------------------------------------------ the procedure


def target_setting_steps(step_hint: int) -> int:
    """How many steps a target-setting run trains, and where its schedule ends."""
    return schedules.horizon(step_hint, TARGET_SETTING_FRACTION)


def target_setting_settings(step_hint: int) -> ProtocolSettings:
    """`target_setting_steps(step_hint)` steps of a run told the whole `step_hint`, as AlgoPerf's
    target-setting algorithms are (the point's `horizon_factor` ends its schedule at those
    steps: `check_horizon`); evaluation on the grid the cpu tier's rules fix for the workload's
    `step_hint`; no stop at a target."""
    return ProtocolSettings(
        max_runtime=NO_TIME_LIMIT, max_steps=target_setting_steps(step_hint), step_hint=step_hint,
        stop_at_target=False,
        eval_every_steps=rules.load(RULES_VERSION).evaluation.every_steps(step_hint),
        evaluate_test=False, rules=RULES_VERSION)


def check_horizon(submission, points: Sequence[Mapping[str, Any]]) -> None:
    """Every point a target-setting run trains ends its schedule where the run stops: its
    `horizon_factor` is TARGET_SETTING_FRACTION (the baselines' search spaces fix it there)."""
    for point in points:
        if point.get("horizon_factor") != TARGET_SETTING_FRACTION:
            raise TargetsError(
                f"{submission.name}: a target-setting run stops at {TARGET_SETTING_FRACTION:g} of "
                f"the step hint, so its schedule must end there, but the point {dict(point)} has "
                f"horizon_factor={point.get('horizon_factor')!r}; fix it in the search space: "
                f'"horizon_factor": {{"feasible_points": [{TARGET_SETTING_FRACTION:g}]}}')


def tune(workload, step_hint: int, baselines: Sequence[str], trials: int, results_dir: Path,
         on_trial=None, seed_offset: int = 0) -> list[Configuration]:
    """Step 1: every baseline's `trials` search-space points, each its own process
    (`seed_offset`: other draws and seeds, for a search beside the one that set the target)."""
    settings = target_setting_settings(step_hint)
    configurations = []
    for name in baselines:
        submission = registry.get_submission(name)
        check_horizon(submission, tuning.study_points(submission, "external", 0, trials,
                                                      seed_offset=seed_offset))
        outcomes = tuning.run_study(
            submission, [workload], ruleset="external", studies=1, trials=trials,
            results_dir=str(results_dir), settings=settings, isolate=True, on_trial=on_trial,
            seed_offset=seed_offset)
        for outcome in outcomes:
            record = outcome.record
            curve = metric_curve(record, workload.spec.target_metric)
            configurations.append(Configuration(
                name, dict(record.hparams), record.seed,
                best_metric(curve, workload.spec.higher_is_better), record.outcome))
    return configurations


def repeat(workload, chosen: Configuration, step_hint: int, seeds: int, results_dir: Path,
           on_seed=None, remeasure: bool = False) -> list[SeedRun]:
    """Step 3: the chosen configuration on `seeds` new seeds (`remeasure`: run them again even
    when recorded, setting the old records aside: the budget is measured time)."""
    submission = registry.get_submission(chosen.submission)
    settings = target_setting_settings(step_hint)
    runs = []
    for index in range(seeds):
        seed = SEED_OFFSET + index
        if on_seed:
            on_seed(index, seeds)
        outcome = api.run_in_own_process(
            workload, submission, hparams=chosen.hparams, seed=seed, ruleset="target_seeds",
            trial=index, results_dir=results_dir, settings=settings, force=remeasure)
        curve = metric_curve(outcome.record, workload.spec.target_metric)
        best = best_metric(curve, workload.spec.higher_is_better)
        if best is None:
            raise TargetsError(f"the chosen configuration ended without a finite metric on seed "
                               f"{seed} ({outcome.record.outcome}): {outcome.record.message}")
        runs.append(SeedRun(seed, best, curve))
    return runs


def set_targets(
    workload_name: str,
    *,
    step_hint: int,
    results_dir: str | Path,
    baselines: Sequence[str] = BASELINES,
    trials: int = DEFAULT_TRIALS,
    seeds: int = DEFAULT_SEEDS,
    command: str = "",
    on_trial: Callable | None = None,
    on_seed: Callable | None = None,
    remeasure: bool = False,
) -> TargetReport:
    """The whole procedure (see the module docstring). Runs are recorded under `results_dir`
    and skipped when already there, so an interrupted procedure resumes; `remeasure` runs the
    seeds again (on a quiet machine: the budget is their measured time)."""
    if step_hint < 1 or trials < 1 or seeds < 1:
        raise TargetsError("step_hint, trials and seeds must be at least 1")
    workload = registry.get_workload(workload_name)
    spec = workload.spec
    results_dir = Path(results_dir)
    configurations = tune(workload, step_hint, baselines, trials, results_dir, on_trial)
    chosen = choose(configurations, spec.higher_is_better)
    runs = repeat(workload, chosen, step_hint, seeds, results_dir, on_seed, remeasure)
    target = median_target([run.best_metric for run in runs])
    runs = seed_runs_at(target, runs, spec.higher_is_better)
    times = [run.time_to_target for run in runs if run.time_to_target is not None]
    return TargetReport(
        workload=spec.name, rules=RULES_VERSION, target_metric=spec.target_metric,
        higher_is_better=spec.higher_is_better, step_hint=step_hint,
        target_setting_steps=target_setting_steps(step_hint),
        eval_every_steps=rules.load(RULES_VERSION).evaluation.every_steps(step_hint),
        validation_target=target,
        max_runtime=budget_for(times), chosen=chosen, configurations=configurations,
        seeds=runs, command=command, hardware=machine(),
        versions=environment.versions())


def machine() -> dict:
    """The hardware the budget was measured on (its fingerprint; no host name)."""
    return {key: value for key, value in environment.hardware().items() if key != "hostname"}


# -------------------------------------------------------------------------- the targets files


def targets_dir() -> Path:
    """workloads/targets/, where the reports live beside the workload modules."""
    return workload_targets.DIRECTORY


def write_report(report: TargetReport, directory: str | Path | None = None) -> Path:
    """Write `report` as <directory>/<workload>.json atomically; its path."""
    directory = Path(directory) if directory else targets_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{report.workload}.json"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(report.to_json())
    os.replace(tmp, path)
    return path


def load_report(workload_name: str) -> TargetReport:
    """The committed target-setting report of a cpu workload."""
    try:
        return TargetReport.from_dict(workload_targets.read_report(workload_name))
    except FileNotFoundError as missing:
        raise TargetsError(str(missing)) from None


def markdown_summary(reports: Sequence[TargetReport]) -> str:
    """A Markdown table of target-setting reports (the README's cpu-tier table)."""
    lines = ["| workload | chosen baseline | target (validation) | step hint | evaluation every | "
             "seeds' steps to target | seeds' time to target | budget |",
             "|---|---|---|---|---|---|---|---|"]
    for report in reports:
        reached = [run for run in report.seeds if run.steps_to_target is not None]
        steps = ", ".join(str(run.steps_to_target) for run in reached)
        seconds = ", ".join(f"{run.time_to_target:.1f}" for run in reached)
        direction = ">=" if report.higher_is_better else "<="
        lines.append(
            f"| {report.workload} | {report.chosen.submission} (lr "
            f"{report.chosen.hparams.get('learning_rate', float('nan')):.3g}) | "
            f"{report.target_metric} {direction} {report.validation_target:.4g} | "
            f"{report.step_hint} | {report.eval_every_steps} | {steps} "
            f"({len(reached)} of {len(report.seeds)}) | {seconds} s | {report.max_runtime:g} s |")
    return "\n".join(lines) + "\n"
