"""Schedule refinement: a learning-rate schedule derived from a finished run's gradient norms.

Defazio, Cutkosky, Mehta & Mishchenko 2023, "When, Why and How Much? Adaptive Learning Rate
Scheduling by Refinement" (arXiv 2310.07831; later titled "Optimal Linear Decay Learning Rate
Schedules and Further Refinements"). Their last-iterate bound for a run of T steps with
gradient norms G_1..G_T is minimised, over schedules, by

    w_t = G_t^-2,        lr_t  proportional to  w_t * sum_{p = t+1..T} w_p        (SGD)

so lr_T = 0. For coordinate-wise methods such as Adam the paper's variant (its Algorithm 2)
uses the l1 norm of the gradient with the first power:

    w_t = ||g_t||_1^-1,  lr_t  proportional to  w_t * sum_{p = t+1..T} w_p        (Adam)

Refinement in practice (the paper's recipe):

1. take the gradient-norm sequence of a previous run (here the record's `train_curve`),
2. smooth it with a median filter whose width is a fraction of the run (10% in the authors'
   published scripts); the sequence is mirrored past the end of the run, where the schedule
   is most sensitive, and held at its first value before the start,
3. compute the weights and the schedule above and divide by its maximum, so that the schedule
   is a multiplier in [0, 1] to apply to the peak learning rate.

With a constant gradient norm, w_t is constant and lr_t is proportional to T - t: linear decay
to zero, the paper's worst-case optimal schedule. Rising norms at the start give a warmup, and
norms that fall near the end give the rapid final annealing the paper reports.

What the harness logs and how we use it. The runner records the l2 and the l1 norm of the
gradient at the step that ends each chunk of dispatched steps (every step when steps are slow,
about every 20 ms of training when they are fast). The SGD rule uses the l2 norm, the Adam rule
the l1 norm, as in the paper. Records written before the l1 norm was logged have only the l2
norm; the Adam rule then uses it in place of the l1 norm: the two are proportional when the
spread of the gradient's coordinates keeps its shape (||g||_1 is about sqrt(2d/pi) ||g||_2 for
Gaussian-like coordinates), and a constant factor cancels in the normalisation. Curves of long
runs are averaged in bins by the runner; the schedule is then computed on the bins (a uniform
grid of steps), which rescales every tail sum by the same bin length and so leaves the
normalised schedule unchanged up to the binning.

The result is written as JSON (format below) and read back by the `nadamw_refined` submission,
which stretches it over its own run (`schedule_function`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import optax
from scipy.ndimage import median_filter

from bench.figures import pyplot, save_figure
from bench.trial.record import read_record, record_paths

FORMAT = "bench-refined-schedule"
FORMAT_VERSION = 1
METHODS = {"adam": 1.0, "sgd": 2.0}  # method -> power p of the weights w_t = G_t^-p
DEFAULT_FILTER_FRACTION = 0.1


class RefineError(ValueError):
    """A record or schedule file that cannot be refined or read; the message says why."""


# --------------------------------------------------------------------------------------------
# The formula
# --------------------------------------------------------------------------------------------


def median_smooth(values: Sequence[float], width: int) -> np.ndarray:
    """Median filter of odd `width`; the start holds its first value, the end is mirrored.

    Mirroring the end (padding with the last `2 * width` values reversed) keeps the last
    points' windows made of real late-run values, instead of repeating the very last one.
    """
    values = np.asarray(values, dtype=np.float64)
    if width <= 1 or values.size < 2:
        return values.copy()
    width = int(width) | 1  # odd
    pad = min(2 * width, values.size - 1)
    padded = np.pad(values, (0, pad), mode="reflect")
    return median_filter(padded, size=width, mode="nearest")[: values.size]


def refined_multipliers(grad_norms: Sequence[float], power: float = 2.0) -> np.ndarray:
    """The refined schedule for gradient norms G_1..G_T, as multipliers with maximum 1.

        w_t = G_t^-power,   m_t = w_t * sum_{p > t} w_p / max_s (w_s * sum_{p > s} w_p)

    so m_T = 0. power = 2 is the paper's SGD rule, power = 1 its Adam rule (with l1 norms).
    """
    norms = np.asarray(grad_norms, dtype=np.float64)
    if norms.ndim != 1 or norms.size < 2:
        raise RefineError("refinement needs at least two gradient norms")
    if not np.all(np.isfinite(norms)) or np.any(norms <= 0):
        raise RefineError("gradient norms must be positive and finite")
    weights = norms ** (-float(power))
    tail = np.cumsum(weights[::-1])[::-1]  # tail[t] = sum_{p >= t} w_p
    after = np.append(tail[1:], 0.0)  # sum_{p > t} w_p
    schedule = weights * after
    return schedule / schedule.max()


# --------------------------------------------------------------------------------------------
# From a record
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RefinedSchedule:
    """A refined schedule and what it was computed from.

    `steps` are the record's logged steps (update numbers, 1-based); `multipliers[i]` scales
    the peak learning rate for update `steps[i]`; `applied_learning_rate` is what the source
    run applied at those steps (None where unknown).
    """

    steps: list[int]
    multipliers: list[float]
    grad_norm: list[float]
    smoothed_grad_norm: list[float]
    applied_learning_rate: list[float | None]
    peak_learning_rate: float | None
    method: str
    power: float
    filter_fraction: float
    filter_width: int
    source: dict
    norm: str = "l2"  # which norm of the gradient `grad_norm` holds: "l1" or "l2"

    @property
    def progress(self) -> list[float]:
        """Each step's position in the source run, from 0 (first update) to 1 (last)."""
        first, last = self.steps[0], self.steps[-1]
        return [(step - first) / (last - first) for step in self.steps]

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "method": self.method,
            "weight_power": self.power,
            "filter_fraction": self.filter_fraction,
            "filter_width": self.filter_width,
            "peak_learning_rate": self.peak_learning_rate,
            "source": self.source,
            "progress": self.progress,
            "multipliers": self.multipliers,
            "steps": self.steps,
            "norm": self.norm,
            "grad_norm": self.grad_norm,
            "smoothed_grad_norm": self.smoothed_grad_norm,
            "applied_learning_rate": self.applied_learning_rate,
            "paper": "Defazio et al. 2023, arXiv 2310.07831",
        }


def _uniform(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The values on a uniform grid of as many steps (binned curves are nearly uniform)."""
    grid = np.linspace(steps[0], steps[-1], steps.size)
    if np.allclose(grid, steps):
        return steps, values
    return grid, np.interp(grid, steps, values)


def refine_record(
    record: Mapping,
    *,
    method: str = "adam",
    filter_fraction: float = DEFAULT_FILTER_FRACTION,
    source_path: str | None = None,
) -> RefinedSchedule:
    """The refined schedule from a finished trial record's gradient-norm trace."""
    if method not in METHODS:
        raise RefineError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not 0.0 <= filter_fraction < 1.0:
        raise RefineError(f"filter_fraction must be in [0, 1), got {filter_fraction!r}")
    if record.get("outcome") == "error":
        raise RefineError("the record is of a trial that failed (outcome error): no trace to use")
    curve = record.get("train_curve") or {}
    lr_steps = np.asarray(curve.get("step") or [], dtype=np.float64)
    lrs = [None if v is None or not math.isfinite(v) else float(v)
           for v in curve.get("learning_rate") or [None] * len(lr_steps)]
    # The gradient norm is logged at its own steps (`grad_norm_step`); older records logged
    # it at every step of `step`.
    steps = np.asarray(curve.get("grad_norm_step", curve.get("step")) or [], dtype=np.float64)
    # The Adam rule wants the l1 norm (logged as grad_norm_l1 since it exists), SGD the l2 norm.
    key = "grad_norm_l1" if method == "adam" and curve.get("grad_norm_l1") else "grad_norm"
    norms = np.asarray([np.nan if v is None else v for v in curve.get(key) or []],
                       dtype=np.float64)
    if steps.size != norms.size or lr_steps.size != len(lrs):
        raise RefineError("the record's train_curve lists have different lengths")
    # A diverged run ends in non-finite norms: keep the finite prefix.
    finite = np.isfinite(norms) & (norms > 0)
    end = int(np.argmin(finite)) if not finite.all() else norms.size
    if end < 3:
        raise RefineError(
            f"the record has {end} usable gradient norms; refinement needs at least 3 (they are "
            "logged where the training loop synchronises, about every 20 ms of training: refine "
            "from a longer run)"
        )
    steps, norms = steps[:end], norms[:end]
    grid, norms_on_grid = _uniform(steps, norms)
    width = max(1, int(filter_fraction * grid.size)) | 1
    smoothed = median_smooth(norms_on_grid, width)
    multipliers = refined_multipliers(smoothed, METHODS[method])
    known = [v for v in lrs if v is not None]
    if known and len(known) == len(lrs):
        applied = list(np.interp(grid, lr_steps, np.asarray(known)))
    else:
        applied = [None] * grid.size
    spec = record.get("workload_spec") or {}
    source = {
        "record": source_path,
        "ruleset": record.get("ruleset"),
        "submission": record.get("submission"),
        "workload": record.get("workload"),
        "study": record.get("study"),
        "trial": record.get("trial"),
        "outcome": record.get("outcome"),
        "steps": record.get("steps"),
        "step_hint": spec.get("step_hint"),
        "hparams": record.get("hparams"),
    }
    return RefinedSchedule(
        steps=[int(round(s)) for s in grid],
        multipliers=[float(m) for m in multipliers],
        grad_norm=[float(v) for v in norms_on_grid],
        smoothed_grad_norm=[float(v) for v in smoothed],
        applied_learning_rate=[None if v is None else float(v) for v in applied],
        peak_learning_rate=max(known) if known else None,
        method=method,
        power=METHODS[method],
        filter_fraction=float(filter_fraction),
        filter_width=int(width),
        source=source,
        norm="l1" if key == "grad_norm_l1" else "l2",
    )


def _final_metric(record: Mapping) -> float | None:
    spec = record.get("workload_spec") or {}
    key = f"validation/{spec.get('target_metric')}"
    values = [row[key] for row in record.get("evals") or [] if key in row]
    if not values or values[-1] is None or not math.isfinite(values[-1]):
        return None
    return float(values[-1]) if spec.get("higher_is_better") else -float(values[-1])


def choose_record(source: str | Path) -> tuple[Path, dict]:
    """The record at `source`, or under a directory the finished trial that ended best.

    "Best" is the last evaluation of the workload's target metric (diverged and failed trials
    are skipped): the run a tuning study would keep, whose trace is the one to refine.
    """
    paths = list(record_paths([source]))
    if not paths:
        raise RefineError(f"no trial records under {source}")
    if len(paths) == 1:
        return paths[0], read_record(paths[0])
    candidates = []
    for path in paths:
        record = read_record(path)
        if record["outcome"] in ("hit", "budget"):
            metric = _final_metric(record)
            if metric is not None:
                candidates.append((metric, str(path), record))
    if not candidates:
        raise RefineError(f"no trial under {source} finished with an evaluation to rank it by")
    workloads = {c[2]["workload"] for c in candidates}
    if len(workloads) > 1:
        raise RefineError(
            f"records under {source} are of several workloads ({', '.join(sorted(workloads))}); "
            "point at one workload's directory or at one record"
        )
    _, path, record = max(candidates, key=lambda c: (c[0], c[1]))
    return Path(path), record


# --------------------------------------------------------------------------------------------
# The schedule file
# --------------------------------------------------------------------------------------------


def write_schedule(schedule: RefinedSchedule, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schedule.to_json(), indent=1) + "\n")
    return path


def load_schedule(path: str | Path) -> dict:
    """Read and check a refined-schedule file: progress in [0, 1] increasing, multipliers >= 0."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RefineError(f"schedule file {path} cannot be read: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RefineError(f"{path} is not a refined-schedule file (written by `bench refine`)")
    progress = np.asarray(data.get("progress") or [], dtype=np.float64)
    multipliers = np.asarray(data.get("multipliers") or [], dtype=np.float64)
    if progress.size < 2 or progress.size != multipliers.size:
        raise RefineError(f"{path}: progress and multipliers must be lists of equal length >= 2")
    if (not np.all(np.isfinite(progress)) or not np.all(np.isfinite(multipliers))
            or progress[0] != 0.0 or progress[-1] != 1.0 or np.any(np.diff(progress) <= 0)
            or np.any(multipliers < 0)):
        raise RefineError(
            f"{path}: progress must rise from 0 to 1 and multipliers be finite and >= 0"
        )
    return data


def schedule_function(data: Mapping, peak: float, total_steps: int) -> optax.Schedule:
    """`peak` times the refined multipliers, stretched over a run of `total_steps` updates.

    Update t + 1 (optax count t = 0 .. total_steps - 1) sits at progress t / (total_steps - 1)
    of the run and takes the multiplier interpolated linearly there; the last update gets the
    schedule's final value (0) and every later one holds it.
    """
    if int(total_steps) != total_steps or total_steps < 1:
        raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
    progress = jnp.asarray(data["progress"], jnp.float32)
    multipliers = jnp.asarray(data["multipliers"], jnp.float32)
    span = float(max(total_steps - 1, 1))

    def schedule(step):
        x = jnp.clip(jnp.asarray(step, jnp.float32) / span, 0.0, 1.0)
        return peak * jnp.interp(x, progress, multipliers)

    return schedule


# --------------------------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------------------------


def plot_refined(schedule: RefinedSchedule, path: str | Path, peak: float | None = None) -> Path:
    """Two panels: the gradient norms (raw and smoothed), and the refined learning rate beside
    the one the source run applied. The refined one is drawn at `peak` (default: the source
    run's peak), so both are in learning-rate units."""
    plt = pyplot()
    peak = peak or schedule.peak_learning_rate or 1.0
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(schedule.steps, schedule.grad_norm, color="0.7", linewidth=0.8, label="logged")
    left.plot(schedule.steps, schedule.smoothed_grad_norm, color="tab:orange",
              label=f"median filter (width {schedule.filter_width})")
    left.set_xlabel("step")
    left.set_yscale("log")  # spikes would flatten everything else on a linear axis
    left.set_ylabel(f"gradient norm (global {schedule.norm})")
    left.set_title("Gradient norms of the source run")
    left.legend(fontsize="small")
    if all(v is not None for v in schedule.applied_learning_rate):
        right.plot(schedule.steps, schedule.applied_learning_rate, color="tab:blue",
                   label="applied (source run)")
    right.plot(schedule.steps, [peak * m for m in schedule.multipliers], color="tab:red",
               label=f"refined ({schedule.method}), peak {peak:.3g}")
    right.set_xlabel("step")
    right.set_ylabel("learning rate")
    source = schedule.source
    right.set_title(f"{source.get('submission')} on {source.get('workload')}: refined schedule")
    right.legend(fontsize="small")
    figure.tight_layout()
    return save_figure(figure, path)[0]

