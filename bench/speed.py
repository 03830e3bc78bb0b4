"""The machine's speed in a workload's reference steps: the clock of rules cpu-v3.

A cpu-tier budget is seconds on the machine that set it, and the machines a user meets under
one name differ. Measured on this project's development machine, a 2-vCPU virtual machine that
reports itself as "AMD EPYC" every time: synthetic_lm's reference configuration (the Nesterov
point that set its target) trained at 3.2 ms a step when its budget was measured, and at 6.0-6.8
and then 7.2-8.5 ms a step on two reference runs of the next day. A budget of seconds then buys
a different number of steps on each, and times measured on two of them cannot be set side by
side: the same hardware fingerprint hid a 2.4x difference.

Rules whose `[timing] clock` is "reference" therefore count submission time in *reference
seconds*: seconds on the machine that set the workload's budget. The workload's reference point
is the baseline configuration that set its target (`workloads/targets/<workload>.json`,
"chosen"); on that machine one of its training steps took `Reference.step_seconds` (the median,
over the target-setting seeds that met the target, of time to target / steps to target). A trial
trains that reference point beside itself on this machine (`ReferenceSteps`): for
`INITIAL_SECONDS` before the trial, before its submission is imported, and then between the
trial's chunks of steps for `SHARE` of the machine seconds the trial's clock has timed, so that
the reference is timed through the whole trial at the machine's speed of each moment. (Until
2026-12-01 it caught up after each evaluation instead, in the state the evaluation left the
caches in; the README's "How far to trust the cpu tier", item 4, compares the two.) With

    rate = this machine's mean seconds per reference step so far / `Reference.step_seconds`,

the clock (`bench.protocol.SubmissionClock`) counts 1 / rate reference seconds per second it
measures: a machine twice as slow gives twice the seconds, and the same budget, evaluation times
and times to target in reference seconds.

Why beside the trial and not once before it: the development machine's speed wanders by 10-30%
within seconds (benchmarks/reference_clock.py), so one second of timing before a trial carries
that error into all of the trial's times. What it does not remove: the rate of the first spans
is that of the first timings, and machines that favour one optimizer's operations over another's
still differ (a rate is one number per workload). The reference is compiled and first timed
before the submission is imported; afterwards its class is among the harness objects checked for
tampering (`bench.tamper`), while its totals, like the clock's, are numbers the harness keeps in
the trial's process.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable

import jax
import numpy as np

from bench import devices

WITH_NORM, WITHOUT_NORM = np.bool_(True), np.bool_(False)  # the step's `with_grad_norm`

INITIAL_SECONDS = 0.5  # the reference is timed this long before the trial starts
SHARE = 0.1  # then for this share of the machine seconds the trial's clock times


class NoReferenceError(ValueError):
    """The workload has no reference point to measure a clock in reference seconds against."""


@dataclasses.dataclass(frozen=True)
class Reference:
    """A workload's reference point and its step time on the machine that set the budget."""

    workload: str
    submission: str
    hparams: dict
    step_seconds: float


def reference_from_report(report: dict) -> Reference:
    """The reference of a target-setting report (plain data, `bench set-targets`' output): its
    chosen configuration, and the median over the seeds that met the target of their seconds
    per step up to it."""
    per_step = [seed["time_to_target"] / seed["steps_to_target"] for seed in report["seeds"]
                if seed.get("time_to_target") and seed.get("steps_to_target")]
    if not per_step:
        raise NoReferenceError(f"{report['workload']}: no target-setting seed met the target, "
                               "so the report gives no step time to measure against")
    chosen = report["chosen"]
    return Reference(report["workload"], chosen["submission"], dict(chosen["hparams"]),
                     statistics.median(per_step))


def reference_for(workload_name: str) -> Reference:
    """The reference of a cpu workload, from its report in workloads/targets/."""
    from workloads import targets as reports

    try:
        report = reports.read_report(workload_name)
    except FileNotFoundError as error:
        raise NoReferenceError(
            f"{workload_name} has no target-setting report, so no reference point for a clock "
            f"in reference seconds ({error}): give it one with `bench set-targets -w "
            f"{workload_name}`, or run it under rules whose clock is this machine's "
            "(--rules cpu-v2)") from None
    return reference_from_report(report)


class ReferenceSteps:
    """The workload's reference point, compiled and training in bursts beside a trial.

    `catch_up(machine_seconds)` trains it until its own timed seconds are `INITIAL_SECONDS` plus
    `SHARE` of `machine_seconds` (the machine seconds the trial's clock has timed so far), in
    chunks synchronised as the training loop synchronises its own. `step_seconds` is its mean
    time per step so far and `rate` that over the reference's `step_seconds`: so the rate is
    sampled through the whole trial, at the machine's speed of each moment, not only before it.
    Batches come from the workload's training stream (seed 0), placed as the loop places them;
    `workload` must be loaded. The two steps that compile are not timed."""

    def __init__(self, workload, reference: Reference,
                 timer: Callable[[], float] = time.perf_counter):
        from bench import registry
        from bench.submission import resolve_hparams
        from bench.trial.loop import make_train_step

        submission = registry.get_submission(reference.submission)
        params, model_state = workload.init(jax.random.key(0))
        optimizer = submission.make_optimizer(resolve_hparams(submission, reference.hparams),
                                              workload.info(params))
        self.reference, self.timer = reference, timer
        self.state = (params, model_state, optimizer.init(params))
        self.train_step, self.rng = make_train_step(workload, optimizer), jax.random.key(1)
        size = workload.spec.batch_size
        self.batches = devices.batch_stream(workload.train_batches(size, 0),
                                            devices.batch_placer(devices.data_mesh(), size))
        self.taken = 0  # steps trained, the compiling ones included
        self.steps, self.seconds = 0, 0.0  # steps timed, and the machine seconds they took
        self.run(2)
        self.steps, self.seconds = 0, 0.0

    def run(self, count: int) -> None:
        """Train `count` steps, synchronised at the end, and count their seconds. As in a chunk
        of the training loop, the last step also computes the gradient norm."""
        start = self.timer()
        params, model_state, opt_state = self.state
        last = self.taken + count - 1
        for index in range(self.taken, self.taken + count):
            params, model_state, opt_state, _ = self.train_step(
                params, model_state, opt_state, next(self.batches), self.rng, np.int32(index),
                WITH_NORM if index == last else WITHOUT_NORM)
        jax.block_until_ready(params)
        self.state = (params, model_state, opt_state)
        self.seconds += self.timer() - start
        self.steps += count
        self.taken += count

    def catch_up(self, machine_seconds: float) -> None:
        """Train whole chunks until the timed seconds reach INITIAL_SECONDS + SHARE x
        `machine_seconds` (passing it by less than a chunk). Always whole chunks: the trial
        calls this after each of its own chunks, when the reference is a tenth of a chunk
        behind, and chunks cut to that size would cost more a step than the trial's."""
        goal = INITIAL_SECONDS + SHARE * machine_seconds
        while self.seconds < goal:
            self.run(self.chunk)

    @property
    def chunk(self) -> int:
        """Steps per synchronisation: the chunk the training loop gives the reference point,
        whose step takes `Reference.step_seconds` on its clock in reference seconds (and took
        that on the machine that set the budget, whose loop chunked it so). Sized on this
        machine's seconds instead (until 2026-12-01), a slow machine synchronised the reference
        more often than the trial and the budget's machine did: at a rate of 2.9, every 14
        steps of digits_autoencoder instead of every 42, 4-9% slower a step (mnist1d_mlp 4-6%,
        synthetic_lm 6%; benchmarks/reference_clock.py), so that its reference seconds were
        that much short, and a fast machine's were not."""
        from bench.trial.loop import steps_per_sync

        return steps_per_sync(self.reference.step_seconds)

    @property
    def step_seconds(self) -> float:
        """Mean machine seconds per reference step so far."""
        if not self.steps:
            raise RuntimeError("no reference step timed yet: call catch_up first")
        return self.seconds / self.steps

    @property
    def rate(self) -> float:
        """Seconds this machine takes per reference second, so far."""
        return self.step_seconds / self.reference.step_seconds

    def close(self) -> None:
        self.batches.close()


def start(workload, timer: Callable[[], float] = time.perf_counter) -> ReferenceSteps:
    """`workload`'s reference (its report in workloads/targets/) compiled and timed for
    `INITIAL_SECONDS`: the rate a trial starts with."""
    steps = ReferenceSteps(workload, reference_for(workload.name), timer)
    steps.catch_up(0.0)
    return steps
