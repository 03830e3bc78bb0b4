"""Loss-curve prediction with the scaling law with learning-rate annealing.

Tissue, Wang & Wang 2024, "Scaling Law with Learning Rate Annealing" (arXiv 2408.11029), find
that the loss at step s of a run follows

    L(s) = L0 + A * S1(s)^-alpha - C * S2(s)

    S1(s) = sum_{i=1..s} lr_i                                   forward area
    S2(s) = sum_{i=1..s} m_i,   m_i = lambda * m_{i-1} + (lr_{i-1} - lr_i)   annealing area

with L0, A, alpha, C constants of the model and data (not of the schedule) and lambda a decay
factor, about 0.999 in the paper's fits. S1 counts how far the run has travelled; m_i is a
momentum of the learning-rate *decrease*, so S2 grows during the annealing and its effect
lags the decrease, as the paper observes of real loss curves.
Fitting the four constants on one or two curves predicts the curve under another schedule.

Conventions used here (ours where the paper leaves them open):

- Steps are the runner's update numbers (1-based): lr_i is the rate applied by update i, the
  loss logged with it the training loss of the batch update i used, so L(s) is compared with
  the loss logged at step s + 1 (the loss of the parameters after s updates).
- The warmup: S1 counts every update, the warmup's too (those updates move the parameters);
  the annealing momentum starts at the first update at the peak learning rate, with
  lr_0 = lr_1 there (so m_1 = 0): during a warmup the rate rises, lr_{i-1} - lr_i < 0, and
  S2 would count the warmup as negative annealing. Only the loss after the warmup is fitted
  or predicted (`fit_warmup=True` keeps the warmup's points too, where S2 = 0). On our runs
  this fits better than leaving the warmup out of S1 as well, which makes S1 tiny right after
  the warmup and the law shoot up there. "Warmup" is everything before the first update at
  the peak rate, so a schedule that peaks late (a refined one can) is fitted from its peak.
- Curves of long runs are averaged in bins by the runner; the learning rate of every update is
  rebuilt by linear interpolation between the bins before the areas are summed.
- The fit is least squares on the training-loss curve: for each alpha of a grid the law is
  linear in (L0, A, C), solved with bounds L0, A, C >= 0; the best point is refined jointly
  with `scipy.optimize.least_squares` (bounds alpha in [0.01, 3]).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bench.figures import pyplot, save_figure

DEFAULT_DECAY = 0.999
ALPHA_BOUNDS = (0.01, 3.0)


class PredictError(ValueError):
    """A curve that cannot be fitted or predicted; the message says why."""


# --------------------------------------------------------------------------------------------
# The areas
# --------------------------------------------------------------------------------------------


def forward_area(lrs: Sequence[float]) -> np.ndarray:
    """S1 after each step: the running sum of the learning rates."""
    return np.cumsum(np.asarray(lrs, dtype=np.float64))


def annealing_area(lrs: Sequence[float], decay: float = DEFAULT_DECAY) -> np.ndarray:
    """S2 after each step: the running sum of m_i = decay * m_{i-1} + (lr_{i-1} - lr_i), with
    m_0 = 0 and lr_0 = lr_1 (no change before the first step)."""
    lrs = np.asarray(lrs, dtype=np.float64)
    if not 0.0 <= decay < 1.0:
        raise PredictError(f"the decay factor must be in [0, 1), got {decay!r}")
    drops = np.diff(lrs, prepend=lrs[:1]) * -1.0  # lr_{i-1} - lr_i
    momentum = np.empty_like(lrs)
    m = 0.0
    for i, drop in enumerate(drops):
        m = decay * m + drop
        momentum[i] = m
    return np.cumsum(momentum)


# --------------------------------------------------------------------------------------------
# Curves
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Curve:
    """A training-loss curve and the learning rate applied at each logged step (1-based)."""

    steps: np.ndarray
    loss: np.ndarray
    learning_rate: np.ndarray
    label: str = ""

    @classmethod
    def from_record(cls, record: Mapping, label: str | None = None) -> "Curve":
        curve = record.get("train_curve") or {}
        steps, loss, lrs = curve.get("step"), curve.get("loss"), curve.get("learning_rate")
        name = label or f"{record.get('submission')} trial {record.get('trial')}"
        if not steps or not loss or not lrs or not len(steps) == len(loss) == len(lrs):
            raise PredictError(f"{name}: the record has no training curve")
        if any(v is None for v in lrs):
            raise PredictError(
                f"{name}: the record does not know its applied learning rate (the submission "
                "does not expose it through optax.inject_hyperparams)"
            )
        loss = np.asarray([np.nan if v is None else v for v in loss], dtype=np.float64)
        finite = np.isfinite(loss)
        end = loss.size if finite.all() else int(np.argmin(finite))  # drop a diverged tail
        return cls(np.asarray(steps[:end], dtype=np.int64), loss[:end],
                   np.asarray(lrs[:end], dtype=np.float64), name)

    def per_step_learning_rate(self) -> np.ndarray:
        """The learning rate of updates 1 .. last step, interpolated between logged steps."""
        every = np.arange(1, int(self.steps[-1]) + 1)
        return np.interp(every, self.steps, self.learning_rate)


@dataclasses.dataclass(frozen=True)
class Areas:
    """S1 and S2 at the steps of a curve that the law covers (see the module docstring)."""

    steps: np.ndarray  # s: updates done
    s1: np.ndarray
    s2: np.ndarray


def areas(steps: Sequence[int], per_step_lr: Sequence[float], decay: float = DEFAULT_DECAY,
          fit_warmup: bool = False) -> Areas:
    """S1(s), S2(s) for each s in `steps` that the law covers; per_step_lr[i] is lr_{i+1}.

    S1 sums every update's rate; S2 starts at the first update at the peak rate. Steps inside
    the warmup are dropped unless `fit_warmup`, and so are steps while S1 is still 0.
    """
    lrs = np.asarray(per_step_lr, dtype=np.float64)
    if lrs.size == 0 or not np.all(np.isfinite(lrs)) or np.any(lrs < 0):
        raise PredictError("learning rates must be finite and >= 0")
    peak = int(np.argmax(lrs >= lrs.max() * (1 - 1e-6)))  # index of the first update at the peak
    s1 = forward_area(lrs)
    s2 = np.concatenate([np.zeros(peak), annealing_area(lrs[peak:], decay)])
    steps = np.asarray(steps, dtype=np.int64)
    first = 1 if fit_warmup else peak + 1
    steps = steps[(steps >= first) & (steps <= lrs.size)]
    steps = steps[s1[steps - 1] > 0]  # s1[s - 1] is the area after s updates; the law needs > 0
    if steps.size == 0:
        raise PredictError("no step after the warmup to fit or predict")
    return Areas(steps, s1[steps - 1], s2[steps - 1])


def law(params: "LawParams", s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    return params.L0 + params.A * s1 ** (-params.alpha) - params.C * s2


def _observed(curve: Curve, decay: float, fit_warmup: bool) -> tuple[Areas, np.ndarray]:
    """The areas after s updates and the loss logged after them (at step s + 1)."""
    loss_by_step = dict(zip(curve.steps.tolist(), curve.loss.tolist()))
    candidate = np.asarray([s - 1 for s in curve.steps if s - 1 >= 1], dtype=np.int64)
    a = areas(candidate, curve.per_step_learning_rate(), decay, fit_warmup)
    return a, np.asarray([loss_by_step[s + 1] for s in a.steps])


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LawParams:
    L0: float
    A: float
    alpha: float
    C: float


@dataclasses.dataclass(frozen=True)
class LawFit:
    params: LawParams
    decay: float
    fit_warmup: bool
    rmse: float  # on the fitted points
    points: int
    curves: list[str]


def fit_law(curves: Sequence[Curve], decay: float = DEFAULT_DECAY,
            fit_warmup: bool = False) -> LawFit:
    """Least-squares fit of (L0, A, alpha, C) to one or more curves of the same workload."""
    if not curves:
        raise PredictError("fit_law needs at least one curve")
    s1, s2, y = [], [], []
    for curve in curves:
        a, observed = _observed(curve, decay, fit_warmup)
        s1.append(a.s1), s2.append(a.s2), y.append(observed)
    s1, s2, y = np.concatenate(s1), np.concatenate(s2), np.concatenate(y)
    if y.size < 5:
        raise PredictError(f"{y.size} points after the warmup: too few to fit four constants")
    if np.any(s1 <= 0):
        raise PredictError("the forward area must be positive (a learning rate of 0 throughout?)")
    from scipy.optimize import least_squares, lsq_linear  # imported on use: slow to import

    def linear_part(alpha: float):
        design = np.column_stack([np.ones_like(s1), s1 ** -alpha, -s2])
        solution = lsq_linear(design, y, bounds=(0.0, np.inf))
        return solution.x, float(np.sum((design @ solution.x - y) ** 2))

    grid = np.geomspace(ALPHA_BOUNDS[0], ALPHA_BOUNDS[1], 40)
    best_alpha = min(grid, key=lambda alpha: linear_part(alpha)[1])
    (l0, a, c), _ = linear_part(best_alpha)

    def residuals(x):
        return law(LawParams(*x), s1, s2) - y

    start = np.array([l0, a, best_alpha, c])
    lower = np.array([0.0, 0.0, ALPHA_BOUNDS[0], 0.0])
    upper = np.array([np.inf, np.inf, ALPHA_BOUNDS[1], np.inf])
    start = np.clip(start, lower, upper)
    solution = least_squares(residuals, start, bounds=(lower, upper), x_scale="jac",
                             method="trf")
    params = LawParams(*(float(v) for v in solution.x))
    rmse = float(np.sqrt(np.mean(residuals(solution.x) ** 2)))
    return LawFit(params, decay, fit_warmup, rmse, int(y.size),
                  [curve.label for curve in curves])


# --------------------------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------------------------


def predict_loss(fit: LawFit, per_step_lr: Sequence[float],
                 steps: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The law's loss after s updates of a schedule (per_step_lr[i] = lr of update i + 1), for
    each s in `steps` (default: every step after the warmup). Returns (steps, loss)."""
    lrs = np.asarray(per_step_lr, dtype=np.float64)
    if steps is None:
        steps = np.arange(1, lrs.size + 1)
    a = areas(steps, lrs, fit.decay, fit.fit_warmup)
    return a.steps, law(fit.params, a.s1, a.s2)


@dataclasses.dataclass(frozen=True)
class PredictionReport:
    steps: np.ndarray  # s: updates done
    predicted: np.ndarray
    observed: np.ndarray  # the loss logged after s updates

    @property
    def mean_absolute_error(self) -> float:
        return float(np.mean(np.abs(self.predicted - self.observed)))

    @property
    def mean_relative_error(self) -> float:
        return float(np.mean(np.abs(self.predicted - self.observed) / np.abs(self.observed)))

    @property
    def root_mean_square_error(self) -> float:
        return float(np.sqrt(np.mean((self.predicted - self.observed) ** 2)))

    @property
    def final_error(self) -> float:
        """Predicted minus observed loss at the end, the observed one averaged over the last 5%
        of the points (a single training loss is a noisy batch)."""
        tail = max(1, int(0.05 * self.observed.size))
        return float(np.mean(self.predicted[-tail:]) - np.mean(self.observed[-tail:]))

    def summary(self) -> dict:
        return {
            "points": int(self.steps.size),
            "mean_absolute_error": self.mean_absolute_error,
            "mean_relative_error": self.mean_relative_error,
            "root_mean_square_error": self.root_mean_square_error,
            "final_error": self.final_error,
        }


def evaluate_prediction(fit: LawFit, target: Curve) -> PredictionReport:
    """Predict `target`'s curve from its learning rates alone, and compare with its losses."""
    a, observed = _observed(target, fit.decay, fit.fit_warmup)
    return PredictionReport(a.steps, law(fit.params, a.s1, a.s2), observed)


def plot_prediction(fit: LawFit, fitted: Sequence[Curve], target: Curve,
                    report: PredictionReport, path: str | Path) -> Path:
    """Observed training losses (light) and the law (dark) for the fitted curves and the
    target, with the learning rates underneath."""
    plt = pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True,
                                         gridspec_kw={"height_ratios": [3, 1]})
    colours = plt.cm.tab10
    for index, curve in enumerate(fitted):
        a, observed = _observed(curve, fit.decay, fit.fit_warmup)
        colour = colours(index + 1)
        top.plot(a.steps, observed, color=colour, alpha=0.3, linewidth=0.8)
        top.plot(a.steps, law(fit.params, a.s1, a.s2), color=colour, linestyle="--",
                 label=f"fitted: {curve.label}")
        bottom.plot(curve.steps, curve.learning_rate, color=colour)
    top.plot(report.steps, report.observed, color=colours(0), alpha=0.3, linewidth=0.8,
             label=f"observed: {target.label}")
    top.plot(report.steps, report.predicted, color=colours(0),
             label=f"predicted (MAE {report.mean_absolute_error:.3g})")
    bottom.plot(target.steps, target.learning_rate, color=colours(0))
    p = fit.params
    top.set_title(f"L = {p.L0:.3g} + {p.A:.3g} S1^-{p.alpha:.3g} - {p.C:.3g} S2 "
                  f"(lambda {fit.decay})", fontsize="medium")
    top.set_ylabel("training loss")
    top.legend(fontsize="small")
    bottom.set_xlabel("step")
    bottom.set_ylabel("learning rate")
    figure.tight_layout()
    return save_figure(figure, path)[0]


def fit_to_json(fit: LawFit) -> dict:
    return {**dataclasses.asdict(fit), "paper": "Tissue et al. 2024, arXiv 2408.11029"}

