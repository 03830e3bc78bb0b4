"""The time-to-result protocol: what is timed, when to evaluate, when a trial stops.

Following AlgoPerf (Dahl et al. 2023, arXiv 2306.07179):

- The clock counts *submission time* only: fetching batches, the training step (gradients and
  optimizer update) and the submission's `eval_params` hook. Device work is synchronised before
  every clock read, so asynchronous dispatch cannot hide time.
- Evaluation runs every `eval_period` seconds of submission time (and once at step 0 and once at
  the end); its cost is measured and logged separately and never counted.
- A trial stops at the first evaluation whose validation metric meets the target (outcome `hit`),
  once submission time reaches `max_runtime` (or the optional `max_steps`; outcome `budget`, whose
  message starts with "max_steps:" when the step limit stopped it), or
  at the first non-finite training loss (outcome `diverged`). A failure of the submission's code
  is outcome `error`.
- JIT compilation happens before the clock starts (two warm-up steps on throw-away copies of the
  state) and is recorded as `compile_time`, not counted: it measures the compiler and its cache,
  which vary across machines and runs far more than the algorithm does, and on the cpu tier it
  would be a large share of a minutes-long budget. Scoring can add it back when wanted.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable

import jax

from bench.rules import DEFAULT_VERSION as DEFAULT_RULES_VERSION


class Outcome(str, enum.Enum):
    HIT = "hit"
    BUDGET = "budget"
    DIVERGED = "diverged"
    ERROR = "error"
    TAMPERED = "tampered"  # the harness objects changed during the trial (bench.tamper)


@dataclasses.dataclass(frozen=True)
class ProtocolSettings:
    """How one trial is run. `None` fields fall back to the workload's own values."""

    max_runtime: float | None = None  # seconds of submission time
    eval_period: float | None = None  # seconds of submission time between evaluations
    budget_multiplier: float = 1.0  # self-tuning runs under a larger budget
    max_steps: int | None = None  # optional hard step limit (quick checks and tests)
    evaluate_test: bool = True  # also evaluate the test split at each evaluation
    # Evaluate every this many steps instead of every eval_period seconds: the evaluation steps,
    # hence steps-to-target, then do not depend on the machine's speed (determinism checks).
    eval_every_steps: int | None = None
    # The rules version (bench.rules) whose step hints, budgets and targets the trial runs under;
    # its name goes into the record, and scoring never mixes versions.
    rules: str = DEFAULT_RULES_VERSION
    # Whether the time spent importing the submission, in make_optimizer and in optimizer.init
    # counts as submission time. AlgoPerf does not count it (its rules forbid using it); the cpu
    # tier does, since there a few seconds of it could hide training. None: by tier.
    count_setup_time: bool | None = None

    def resolve(self, spec) -> "ProtocolSettings":
        """Fill the defaults from a `WorkloadSpec` and apply the budget multiplier."""
        max_runtime = (self.max_runtime or spec.max_runtime) * self.budget_multiplier
        eval_period = self.eval_period or spec.eval_period
        if max_runtime <= 0 or eval_period <= 0:
            raise ValueError("max_runtime and eval_period must be positive")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        if self.eval_every_steps is not None and self.eval_every_steps < 1:
            raise ValueError("eval_every_steps must be at least 1")
        count_setup_time = spec.tier == "cpu" if self.count_setup_time is None else \
            self.count_setup_time
        return dataclasses.replace(
            self, max_runtime=max_runtime, eval_period=eval_period, budget_multiplier=1.0,
            count_setup_time=count_setup_time,
        )


class SubmissionClock:
    """A stopwatch over submission time that synchronises the device before every read.

    `start()` begins a timed span; `stop(*outputs)` waits for `outputs` (device arrays or pytrees
    of them) to be computed, then ends the span. `elapsed` is the sum of all spans.
    """

    def __init__(self, timer: Callable[[], float] = time.perf_counter):
        self._timer = timer
        self._span_start: float | None = None
        self.elapsed = 0.0

    @property
    def running(self) -> bool:
        return self._span_start is not None

    def start(self) -> None:
        if self.running:
            raise RuntimeError("clock already running")
        self._span_start = self._timer()

    def stop(self, *outputs) -> float:
        if not self.running:
            raise RuntimeError("clock not running")
        jax.block_until_ready(outputs)
        self.elapsed += self._timer() - self._span_start
        self._span_start = None
        return self.elapsed
