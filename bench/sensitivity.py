"""Learning-rate sensitivity: final loss over a log grid of learning rates, and its summary.

Wortsman et al. 2023, "Small-scale proxies for large-scale Transformer training instabilities"
(arXiv 2309.14322), Section 2.2, summarise an LR-vs-loss curve by its *LR sensitivity*:

    sensitivity = E_{lr in grid} [ min(L(lr), L_init) - L* ],    L* = min_{lr in grid} L(lr)

where L(lr) is the final validation loss of a run at learning rate lr (all else fixed), L_init
the loss at initialisation, and the expectation a mean over a log-spaced grid. A run that
diverges, or ends worse than it started, counts as L_init, so one bad point costs at most
L_init - L*. Lower is better: 0 means every learning rate in the range reaches the best loss.

How a sweep is run here. Each grid point is one trial through `bench.api.run`, recorded under
the ruleset "sensitivity" (or another name given) with the step budget as the study number
and the learning rate coded as the trial number (`trial_number`): re-running a sweep skips
finished points, and widening the grid only runs the new ones. Other hyperparameters stay at
the submission's default point, or at a point given as overrides of it. Every trial trains
for exactly `max_steps` updates (default: the workload's step hint, where the decaying
schedules end): the workload's validation target is replaced by one that cannot be met
(`fixed_budget`), so no trial stops early at the target, and the time budget is lifted. The
validation loss is evaluated at step 0 (L_init) and at the end only.
"""

from __future__ import annotations

import hashlib
import json
import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from bench import api, registry, rules
from bench.figures import pyplot, save_figure
from bench.protocol import ProtocolSettings
from bench.submission import Submission
from bench.workload import Workload

RULESET = "sensitivity"
LOSS_KEY = "validation/loss"
# Half-decade grid from 1e-4 to 1e-1: the range of Adam-family learning rates on our workloads
# (Wortsman et al. sweep 3e-4 .. 3e-1 for AdamW on language models).
DEFAULT_LRS = tuple(float(f"{10.0 ** (e / 2):.4g}") for e in range(-8, -1))
NO_TIME_LIMIT = 1e9  # seconds: a sweep is bounded by steps


class SensitivityError(ValueError):
    """A sweep that cannot be run as asked; the message says why."""


# --------------------------------------------------------------------------------------------
# The summary statistic
# --------------------------------------------------------------------------------------------


def lr_sensitivity(final_losses: Sequence[float | None], initial_loss: float) -> float:
    """Wortsman et al.'s LR sensitivity: mean over the grid of min(L, L_init) - L*.

    `final_losses` holds L(lr) for each grid point, None or a non-finite value for a run that
    diverged; those count as `initial_loss`. L* is the best of the capped losses.
    """
    if not final_losses:
        raise SensitivityError("the sensitivity of an empty grid is undefined")
    if not math.isfinite(initial_loss):
        raise SensitivityError(f"the initial loss must be finite, got {initial_loss!r}")
    capped = np.array([
        initial_loss if loss is None or not math.isfinite(loss) else min(loss, initial_loss)
        for loss in final_losses
    ])
    return float(np.mean(capped - capped.min()))


def log_grid(low: float, high: float, per_decade: int = 2) -> list[float]:
    """Learning rates from `low` to `high` (both included), `per_decade` points per decade."""
    if not 0 < low <= high:
        raise SensitivityError(f"need 0 < low <= high, got {low!r}, {high!r}")
    count = int(round(math.log10(high / low) * per_decade)) + 1
    return [float(f"{v:.4g}") for v in np.geomspace(low, high, max(count, 1))]


def parse_lrs(text: str) -> list[float]:
    """A comma-separated list of positive learning rates ("1e-4,3e-4,1e-3")."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SensitivityError(f"--lrs must be comma-separated numbers, got {text!r}") from None
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise SensitivityError(f"--lrs must be positive numbers, got {text!r}")
    return sorted(set(values))


def trial_number(learning_rate: float) -> int:
    """The trial number that records a grid point: 100 * (log10(lr) + 10), rounded.

    Learning rates 1e-10 .. 1e3 map to 0 .. 1300 (1e-3 -> 700, 3e-3 -> 748); two rates less
    than about 2% apart share a number and cannot be in one sweep.
    """
    if not 1e-10 <= learning_rate <= 1e3:
        raise SensitivityError(f"learning rate {learning_rate!r} is outside [1e-10, 1e3]")
    return int(round(100 * (math.log10(learning_rate) + 10)))


# --------------------------------------------------------------------------------------------
# Running a sweep
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    learning_rate: float
    initial_loss: float | None  # validation loss at step 0
    final_loss: float | None  # validation loss after the last step; None if never evaluated
    outcome: str
    steps: int
    record_path: Path
    skipped: bool  # the trial had run before; its record was reused

    @property
    def diverged(self) -> bool:
        return (self.outcome == "diverged" or self.final_loss is None
                or not math.isfinite(self.final_loss))


@dataclasses.dataclass(frozen=True)
class Sweep:
    submission: str
    workload: str
    max_steps: int
    points: list[SweepPoint]

    @property
    def initial_loss(self) -> float:
        """L_init: the validation loss at initialisation (the median over the grid's trials,
        which share their seed and so their initial parameters)."""
        values = [p.initial_loss for p in self.points
                  if p.initial_loss is not None and math.isfinite(p.initial_loss)]
        if not values:
            raise SensitivityError(f"{self.submission}: no trial evaluated its initial loss")
        return float(np.median(values))

    @property
    def sensitivity(self) -> float:
        return lr_sensitivity([p.final_loss for p in self.points], self.initial_loss)

    @property
    def best(self) -> SweepPoint | None:
        finite = [p for p in self.points if not p.diverged]
        return min(finite, key=lambda p: p.final_loss) if finite else None


def fixed_budget(workload: Workload) -> Workload:
    """A copy of `workload` whose validation target cannot be met: its trials run to the end
    of their budget instead of stopping at the target. The record's workload_spec shows the
    replaced target (infinite), so these trials never mix with scored ones."""
    unreachable = math.inf if workload.spec.higher_is_better else -math.inf
    return workload.with_spec(dataclasses.replace(workload.spec, validation_target=unreachable))


def _loss(row: Mapping | None) -> float | None:
    if row is None or row.get(LOSS_KEY) is None:
        return None
    value = float(row[LOSS_KEY])
    return value if math.isfinite(value) else None


def point_from_record(record: Mapping, path: Path, learning_rate: float, skipped: bool):
    evals = record.get("evals") or []
    if evals and LOSS_KEY not in evals[0]:
        raise SensitivityError(
            f"workload {record['workload']} reports no validation loss; LR sensitivity needs it"
        )
    first = evals[0] if evals and evals[0].get("step") == 0 else None
    last = evals[-1] if evals and evals[-1].get("step") == record.get("steps") else None
    return SweepPoint(
        learning_rate=learning_rate,
        initial_loss=_loss(first),
        final_loss=None if record["outcome"] == "diverged" else _loss(last),
        outcome=record["outcome"],
        steps=int(record.get("steps") or 0),
        record_path=path,
        skipped=skipped,
    )


def run_sweep(
    workload: str | Workload,
    submission: str | Submission,
    learning_rates: Iterable[float] = DEFAULT_LRS,
    *,
    max_steps: int | None = None,
    results_dir: str | Path = api.DEFAULT_RESULTS_DIR,
    hparam: str = "learning_rate",
    hparams: Mapping | None = None,
    ruleset: str = RULESET,
    seed: int = 0,
    data_dir: str | None = None,
    on_point: Callable[[SweepPoint], None] | None = None,
) -> Sweep:
    """Train `submission` on `workload` once per learning rate and collect the final losses.

    Records go to <results_dir>/<ruleset>/<submission>/<workload>/study_<max_steps>/
    trial_<trial_number(lr)>.json; points already recorded are read back, not run again.
    `hparams` overrides the default point the sweep starts from (e.g. a schedule file); a
    sweep from another point needs another `ruleset` name or results directory, since its
    trials would have the same numbers.
    """
    if isinstance(workload, str):
        workload = registry.get_workload(workload)
    if isinstance(submission, str):
        submission = registry.get_submission(submission)
    base = dict(hparams or {})
    if hparam in base:
        raise SensitivityError(f"{hparam} is the swept hyperparameter; do not also set it")
    if hparam not in submission.default_hparams:
        raise SensitivityError(
            f"submission {submission.name} has no hyperparameter {hparam!r} to sweep "
            f"(it accepts: {', '.join(sorted(submission.default_hparams))})"
        )
    rates = sorted(set(float(lr) for lr in learning_rates))
    if not rates:
        raise SensitivityError("the learning-rate grid is empty")
    numbers = [trial_number(lr) for lr in rates]
    if len(set(numbers)) != len(numbers):
        raise SensitivityError(
            "two learning rates of the grid are less than 2% apart; space them further"
        )
    steps = int(max_steps or workload.spec.step_hint)
    if steps < 1:
        raise SensitivityError(f"max_steps must be at least 1, got {max_steps!r}")
    settings = ProtocolSettings(
        max_runtime=NO_TIME_LIMIT, max_steps=steps, eval_every_steps=steps, evaluate_test=False,
        rules=rules.MACHINE_CLOCK_VERSION,
    )
    fixed = fixed_budget(workload)
    points = []
    for lr, number in zip(rates, numbers):
        try:
            outcome = api.run(
                fixed, submission, hparams={**base, hparam: lr}, seed=seed, ruleset=ruleset,
                study=steps, trial=number, results_dir=results_dir, settings=settings,
                data_dir=data_dir,
            )
        except api.TrialConflictError:
            path = api.TrialId(ruleset, submission.name, workload.name, steps, number).path(
                results_dir)
            raise SensitivityError(
                f"{path} holds the point {hparam}={lr:g} of a sweep with other hyperparameters "
                "or seed; give this sweep another --ruleset or --results-dir"
            ) from None
        if outcome.record["outcome"] == "error":
            message = (outcome.record.get("message") or "").strip().splitlines() or [""]
            raise SensitivityError(
                f"{submission.name} at {hparam}={lr:g} failed: {message[0]} (record "
                f"{outcome.path}; remove it to run the point again)"
            )
        point = point_from_record(outcome.record, outcome.path, lr, outcome.skipped)
        points.append(point)
        if on_point is not None:
            on_point(point)
    return Sweep(submission.name, workload.name, steps, points)


# --------------------------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------------------------


def plot_name(sweeps: Sequence[Sweep], hparam: str = "learning_rate",
              hparams: Mapping | None = None, seed: int = 0) -> str:
    """A file name for the sweeps' plot that differs whenever the sweeps do.

    It spells the workload, the swept hyperparameter, the submissions and the steps, and ends in
    a short hash of everything else that shapes the plot (the grid, the other overrides, the
    seed), so sweeps of other submissions or settings never overwrite an earlier plot.
    """
    if not sweeps:
        raise SensitivityError("nothing to plot")
    names = "+".join(Path(s.submission).stem if "/" in s.submission else s.submission
                     for s in sweeps)
    grid = [[p.learning_rate for p in s.points] for s in sweeps]
    facts = json.dumps([grid, dict(hparams or {}), seed, [s.submission for s in sweeps]],
                       sort_keys=True, default=str)
    digest = hashlib.sha256(facts.encode()).hexdigest()[:8]
    return (f"{sweeps[0].workload}_{hparam}_sensitivity_{names}_{sweeps[0].max_steps}steps_"
            f"{digest}.png")


def plot_sweeps(sweeps: Sequence[Sweep], path: str | Path) -> Path:
    """Final validation loss against learning rate, one panel per submission, side by side on a
    shared loss axis. Diverged points are drawn as crosses at L_init (where they count)."""
    plt = pyplot()
    if not sweeps:
        raise SensitivityError("nothing to plot")
    figure, axes = plt.subplots(1, len(sweeps), figsize=(4 * len(sweeps), 3.6), sharey=True,
                                squeeze=False)
    for axis, sweep in zip(axes[0], sweeps):
        initial = sweep.initial_loss
        good = [p for p in sweep.points if not p.diverged]
        bad = [p for p in sweep.points if p.diverged]
        axis.plot([p.learning_rate for p in good], [min(p.final_loss, initial) for p in good],
                  marker="o", color="tab:blue", label="final loss (capped at L_init)")
        if bad:
            axis.scatter([p.learning_rate for p in bad], [initial] * len(bad), marker="x",
                         color="tab:red", zorder=3, label="diverged")
        axis.axhline(initial, color="0.5", linestyle="--", linewidth=1, label="L_init")
        axis.set_xscale("log")
        axis.set_xlabel("learning rate")
        axis.set_title(f"{sweep.submission}\nsensitivity {sweep.sensitivity:.4g}",
                       fontsize="medium")
    axes[0][0].set_ylabel(f"validation loss after {sweeps[0].max_steps} steps")
    axes[0][0].legend(fontsize="small")
    figure.suptitle(f"LR sensitivity on {sweeps[0].workload}", fontsize="medium")
    figure.tight_layout()
    return save_figure(figure, path)[0]
