"""Setting a workload's validation target the way AlgoPerf does (Dahl et al. 2023, sec. 4).

A target must be reachable but demanding: it is the validation metric a well-tuned baseline
reaches within the workload's step hint. `calibrate` trains the baseline for exactly `step_hint`
steps at each learning rate of a small grid and each seed (no target, so nothing stops early),
takes each run's best validation metric, picks the learning rate with the best median, and
proposes as target the median over seeds of that learning rate's best metrics. It also reports
the submission time those steps took, from which the budget is set (a multiple of it).

    bench calibrate --workload mnist1d --submission nadamw \
        --learning-rates 1e-3,2e-3,4e-3 --seeds 0,1,2 [--hparam weight_decay=1.0]
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from bench import registry
from bench.protocol import ProtocolSettings
from bench.trial.loop import run_trial
from bench.submission import resolve_hparams


@dataclasses.dataclass(frozen=True)
class CalibrationRun:
    learning_rate: float
    seed: int
    best_metric: float
    submission_time: float
    steps: int


def calibrate(workload_name, submission_name, learning_rates, seeds, report=print, overrides=None):
    """Runs of the baseline for `step_hint` steps; returns (runs, proposed target, best lr)."""
    workload = registry.get_workload(workload_name)
    submission = registry.get_submission(submission_name)
    workload.load()
    spec = workload.spec
    sign = 1.0 if spec.higher_is_better else -1.0
    never = math.inf if spec.higher_is_better else -math.inf
    # An unreachable target, so that every run trains for the whole step hint.
    workload.spec = dataclasses.replace(spec, validation_target=never)
    settings = ProtocolSettings(max_runtime=1e9, max_steps=spec.step_hint, evaluate_test=False)
    runs = []
    try:
        for lr in learning_rates:
            for seed in seeds:
                hparams = resolve_hparams(submission, {**(overrides or {}), "learning_rate": lr})
                result = run_trial(workload, submission, hparams, seed=seed, settings=settings)
                key = f"validation/{spec.target_metric}"
                best = sign * max(sign * row[key] for row in result.evals)
                run = CalibrationRun(lr, seed, best, result.submission_time, result.steps)
                report(f"lr={lr:g} seed={seed}: best {spec.target_metric} {best:.4f} "
                       f"in {run.steps} steps, {run.submission_time:.1f}s ({result.outcome.value})")
                runs.append(run)
    finally:
        workload.spec = spec
    by_lr = {lr: [r.best_metric for r in runs if r.learning_rate == lr] for lr in learning_rates}
    best_lr = max(by_lr, key=lambda lr: sign * np.median(by_lr[lr]))
    return runs, float(np.median(by_lr[best_lr])), best_lr
