"""AutoLRS: every stage, Bayesian optimisation over short probes picks the next learning rate.

Jin et al., "AutoLRS: Automatic Learning-Rate Schedule by Bayesian Optimization on the Fly"
(ICLR 2021, arXiv 2105.10762). A full-control submission: the controller (`make_controller`)
runs before every training step. At the start of each stage of tau steps it snapshots the
training state and probes k learning rates proposed by a Gaussian process on log lr
(`bench.optim.autolrs`): each probe restores the snapshot, trains tau' = tau/10 steps at its
learning rate, reads the loss along the way (the runner's held-out slice of the training stream,
or the probe's own training losses) and forecasts the loss after tau steps with an exponential
model. It then restores the snapshot and trains the stage at the learning rate with the lowest
forecast. Stages double in length up to tau_max. The update rule is the AlgoPerf NadamW
(`bench.optim.nadam`), its learning rate injected so the controller can set it.
"""

import math
from typing import NamedTuple

from bench.optim.autolrs import bayes_minimize, exponential_forecast
from bench.optim.nadam import ALGOPERF_SELF_TUNING_POINT, nadamw_from_hparams

DEFAULT_HPARAMS = {
    # The learning-rate search interval (log scale): AutoLRS's one required input.
    "lr_min": 1e-5,
    "lr_max": 3e-2,
    # Stage lengths, as fractions of the step hint: the first stage and the longest one.
    "tau_fraction": 0.025,
    "tau_max_fraction": 0.2,
    "probe_fraction": 0.1,  # tau' / tau
    "min_probe_steps": 10,  # tau' is never shorter (tau grows to match)
    "num_probes": 10,  # k: learning rates probed per stage
    "forecast_loss": "holdout",  # the loss the forecast is fitted to: "holdout" or "train"
    "measurements": 16,  # held-out loss readings per probe ("holdout" only)
    "min_decay": 0.3,  # the forecast curve decays at least by e^-min_decay over the probe
    "acquisition": "lcb",  # "lcb" (mu - kappa sigma) or "ei" (expected improvement)
    "kappa": 2.0,
    # A fixed linear warmup before the first search (the paper searches no warmup).
    "warmup_fraction": 0.02,
    "warmup_learning_rate": ALGOPERF_SELF_TUNING_POINT["learning_rate"],
    # NadamW: the AlgoPerf self-tuning point (bench.optim.nadam).
    "one_minus_beta1": ALGOPERF_SELF_TUNING_POINT["one_minus_beta1"],
    "beta2": ALGOPERF_SELF_TUNING_POINT["beta2"],
    "weight_decay": ALGOPERF_SELF_TUNING_POINT["weight_decay"],
    "grad_clip": None,
}


def make_optimizer(hparams, workload_info):
    # A numeric learning rate (no schedule): the controller sets it through the handle.
    return nadamw_from_hparams(float(hparams["warmup_learning_rate"]), hparams)


class Stage(NamedTuple):
    """One search: where it started, how long it runs, what it probed and what it chose."""

    step: int
    tau: int
    tau_prime: int
    learning_rates: list[float]
    forecasts: list[float]
    chosen: float


class AutoLRS:
    """The controller: warmup, then a search at the start of every stage (see module doc)."""

    def __init__(self, hparams, workload_info):
        self.h = dict(hparams)
        if not 0 < self.h["lr_min"] < self.h["lr_max"]:
            raise ValueError("need 0 < lr_min < lr_max")
        if self.h["forecast_loss"] not in ("holdout", "train"):
            raise ValueError("forecast_loss must be 'holdout' or 'train'")
        hint = workload_info.step_hint
        shortest = math.ceil(self.h["min_probe_steps"] / self.h["probe_fraction"])
        self.tau = max(round(self.h["tau_fraction"] * hint), shortest, 1)
        self.tau_max = max(round(self.h["tau_max_fraction"] * hint), self.tau)
        self.warmup_steps = int(self.h["warmup_fraction"] * hint)
        self.next_search = self.warmup_steps
        self.initial_loss = None  # the loss at the first search: above it, a probe diverged
        self.stages: list[Stage] = []

    def __call__(self, handle) -> int:
        """Act if due; return the steps until the next call (the runner batches them)."""
        step = handle.step
        if step < self.warmup_steps:
            handle.set_learning_rate(
                self.h["warmup_learning_rate"] * (step + 1) / self.warmup_steps)
            return 1
        if step >= self.next_search:
            self.search(handle)
            self.next_search = step + self.stages[-1].tau
            self.tau = min(2 * self.tau, self.tau_max)
        return max(1, self.next_search - step)

    # -- one stage's search ------------------------------------------------------------------

    def search(self, handle) -> None:
        tau = self.tau
        tau_prime = max(int(self.h["min_probe_steps"]), round(self.h["probe_fraction"] * tau))
        snapshot = handle.snapshot()
        start_loss = handle.holdout_loss() if self.h["forecast_loss"] == "holdout" else None
        log_lo, log_hi = math.log(self.h["lr_min"]), math.log(self.h["lr_max"])
        to_lr = lambda x: math.exp(log_lo + x * (log_hi - log_lo))  # noqa: E731

        def forecast(x: float) -> float:
            handle.restore(snapshot)
            handle.set_learning_rate(to_lr(x))
            return self.probe(handle, tau, tau_prime, start_loss)

        result = bayes_minimize(forecast, int(self.h["num_probes"]),
                                acquisition=self.h["acquisition"], kappa=self.h["kappa"])
        chosen = to_lr(result.best_x)
        handle.restore(snapshot)
        handle.set_learning_rate(chosen)
        self.stages.append(Stage(handle.step, tau, tau_prime, [to_lr(x) for x in result.xs],
                                 result.ys, chosen))

    def probe(self, handle, tau: int, tau_prime: int, start_loss: float | None) -> float:
        """Train tau' steps from the restored snapshot; the forecast loss after tau steps."""
        if self.h["forecast_loss"] == "train":
            times, losses = list(range(tau_prime)), handle.train(tau_prime)
        else:
            spacing = max(1, tau_prime // int(self.h["measurements"]))
            times, losses = [0], [start_loss]
            while times[-1] < tau_prime:
                steps = min(spacing, tau_prime - times[-1])
                if not all(math.isfinite(v) for v in handle.train(steps)):
                    return math.inf
                times.append(times[-1] + steps)
                losses.append(handle.holdout_loss())
        if not all(math.isfinite(v) for v in losses):
            return math.inf
        if self.h["forecast_loss"] == "holdout":
            if self.initial_loss is None:
                self.initial_loss = start_loss
            if max(losses) > self.initial_loss:
                # Above the loss where the search began: nothing decays, nothing to extrapolate.
                return float(losses[-1])
        return exponential_forecast(times, losses, tau, self.h["min_decay"])


def make_controller(hparams, workload_info):
    return AutoLRS(hparams, workload_info)
