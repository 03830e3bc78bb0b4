"""The time-to-result protocol: what is timed, when to evaluate, when a trial stops.

Following AlgoPerf (Dahl et al. 2023, arXiv 2306.07179):

- The clock counts *submission time* only: fetching batches, the training step (gradients and
  optimizer update) and the submission's `eval_params` hook. Device work is synchronised before
  every clock read, so asynchronous dispatch cannot hide time.
- Evaluation runs every `eval_period` seconds of submission time (and once at step 0 and once at
  the end); its cost is measured and logged separately and never counted. The test split is
  evaluated with the validation split each time, or, where the rules say so (the cpu tier),
  only at the evaluation that ends the trial: scores read the validation split alone. Rules
  may instead fix the evaluation steps (`[evaluation]`, a fraction of the step hint: the cpu
  tier's), so that a seed reaches the target at the same step on any machine and only the clock
  depends on it.
- A trial stops at the first evaluation whose validation metric meets the target (outcome `hit`;
  target-setting runs, `stop_at_target=False`, go on to their step limit),
  once submission time reaches `max_runtime` (or the optional `max_steps`; outcome `budget`, whose
  message starts with "max_steps:" when the step limit stopped it), or
  at the first non-finite training loss (outcome `diverged`). A failure of the submission's code
  is outcome `error`.
- JIT compilation happens before the clock starts (two throw-away training steps, and the
  evaluation hook and a controller's harness functions run once on copies of the state) and is
  recorded as `compile_time`. Whether it counts is the rules version's to say
  (`bench.rules`, its [timing] table): AlgoPerf counts it, so under its rules the clock starts at
  the compilation's seconds; the cpu tier does not (on 2 CPU cores it measures the compiler and
  its cache more than the algorithm). Likewise the submission's setup (import, make_optimizer,
  optimizer.init: AlgoPerf no, the cpu tier yes) and an evaluation past the budget (AlgoPerf
  v0.6 allows none).
- The clock counts this machine's seconds, or, where the rules say so (the cpu tier since
  cpu-v3), *reference seconds*: seconds of the machine that set the workload's budget, through
  the speed of the workload's reference point trained beside the trial (`bench.speed`; the
  clock's `rate`).
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable

import jax

from bench import rules


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
    evaluate_test: bool = True  # also evaluate the test split (when: `test_every_evaluation`)
    # True: the test split at every evaluation; False: only at the evaluation that ends the trial
    # (a hit, or the last of the budget). None: as the rules say ([evaluation] test_split).
    test_every_evaluation: bool | None = None
    # Evaluate every this many steps instead of every eval_period seconds: the evaluation steps,
    # hence steps-to-target, then do not depend on the machine's speed. None: by time when
    # `eval_period` is given, otherwise as the rules say (their [evaluation] table).
    eval_every_steps: int | None = None
    # The step hint given to the submission instead of the workload's (target setting tunes
    # baselines at a step budget before the workload has its targets: `bench.targets`).
    step_hint: int | None = None
    # False for target-setting runs: evaluate and record, but train on to `max_steps` whatever
    # the validation metric (such a run is never a `hit`).
    stop_at_target: bool = True
    # The rules version (bench.rules) whose step hints, budgets and targets the trial runs under;
    # its name goes into the record, and scoring never mixes versions. None: the default of the
    # workload's tier (`bench.rules.default_version`; filled by `for_tier` and `resolve`).
    rules: str | None = None
    # What counts as submission time and when evaluation stops; None: as the rules version says
    # (bench.rules, its [timing] table). Setup is importing the submission, make_optimizer and
    # optimizer.init (AlgoPerf: not counted; the cpu tier: counted, since there a few seconds of
    # it could hide training). Compilation is the warm-up before the clock (AlgoPerf: counted).
    # An evaluation past the budget (AlgoPerf v0.5 and the cpu tier: one more, and a hit there
    # counts; v0.6: none once the budget is spent).
    count_setup_time: bool | None = None
    count_compile_time: bool | None = None
    eval_past_budget: bool | None = None

    def for_tier(self, tier: str) -> "ProtocolSettings":
        """These settings with the rules version named: `rules`, or the default of `tier`."""
        if self.rules is not None:
            return self
        return dataclasses.replace(self, rules=rules.default_version(tier))

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
        if self.step_hint is not None and self.step_hint < 1:
            raise ValueError("step_hint must be at least 1")
        version = rules.load(self.for_tier(spec.tier).rules)
        timing = version.timing
        step_hint = self.step_hint or spec.step_hint
        return dataclasses.replace(
            self, rules=version.version, max_runtime=max_runtime, eval_period=eval_period,
            budget_multiplier=1.0, eval_every_steps=self.evaluation_steps(version, step_hint),
            test_every_evaluation=first_set(self.test_every_evaluation,
                                            version.evaluation.test_split == "every"),
            count_setup_time=first_set(self.count_setup_time, timing.init_optimizer_counts),
            count_compile_time=first_set(self.count_compile_time, timing.compile_counts),
            eval_past_budget=first_set(self.eval_past_budget, timing.eval_past_budget_counts),
        )

    def evaluation_steps(self, version, step_hint: int) -> int | None:
        """Steps between evaluations: `eval_every_steps` if given; None (by time) if an
        `eval_period` is given; otherwise as the rules version says."""
        if self.eval_every_steps is not None or self.eval_period is not None:
            return self.eval_every_steps
        return version.evaluation.every_steps(step_hint)


def first_set(value, default):
    """`value` unless it is None."""
    return default if value is None else value


class SubmissionClock:
    """A stopwatch over submission time that synchronises the device before every read.

    `start()` begins a timed span; `stop(*outputs)` waits for `outputs` (device arrays or pytrees
    of them) to be computed, then ends the span. `elapsed` is the sum of all spans, divided by
    `rate`: the seconds this machine takes per second of the clock. 1 counts the machine's own
    seconds; rules whose clock is in reference seconds (cpu-v3, `bench.speed`) give the measured
    rate, so a machine twice as slow as the one that set the budget counts half as fast.
    `add(seconds)` counts seconds measured elsewhere (the submission's setup) the same way; the
    rate may change between spans (`bench.speed.ReferenceSteps` refines it through a trial).
    `machine_seconds` sums the seconds measured, undivided.
    """

    def __init__(self, timer: Callable[[], float] = time.perf_counter, rate: float = 1.0):
        if not rate > 0:
            raise ValueError(f"a clock's rate must be positive, not {rate}")
        self._timer = timer
        self._span_start: float | None = None
        self.rate = rate
        self.elapsed = 0.0
        self.machine_seconds = 0.0

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
        self.add(self._timer() - self._span_start)
        self._span_start = None
        return self.elapsed

    def add(self, seconds: float) -> float:
        """Count `seconds` of this machine's time."""
        self.machine_seconds += seconds
        self.elapsed += seconds / self.rate
        return self.elapsed
