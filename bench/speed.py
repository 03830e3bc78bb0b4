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
over the target-setting seeds that met the target, of time to target / steps to target). Before
a trial, and before its submission is imported, the harness times the reference point's steps on
this machine (`measure_step_seconds`: the same training step and batches the loop runs, in
chunks synchronised as the loop synchronises them, the median of several bursts). With

    rate = measured seconds per reference step / `Reference.step_seconds`,

the trial's clock advances 1 / rate reference seconds per second it measures
(`bench.protocol.SubmissionClock`): a machine twice as slow gives twice the seconds, and the
same budget, evaluation times and times to target in reference seconds.

What it does not remove: a change of speed during the trial (the rate is measured once, before
it), the burst-to-burst noise of the measurement (a few percent; benchmarks/reference_clock.py
measures it), and differences in how machines favour one optimizer's operations over another's
(a rate is one number per workload). The measurement runs before the submission is imported,
so its code cannot slow the reference down; like the clock's own total it is a number the
harness keeps in the trial's process (see `bench.tamper`).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable

import jax
import numpy as np

from bench import devices

BURSTS = 7  # bursts of training steps timed; their median per-step time is the measurement
BURST_SECONDS = 0.15  # about this long each
CHUNK_SECONDS = 0.02  # synchronised every ~20 ms, as the training loop does (bench.trial.loop)
MAX_CHUNK = 64


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
        raise NoReferenceError(f"{report['workload']}: no target-setting seed met the target, so "
                             "the report gives no step time to measure against")
    chosen = report["chosen"]
    return Reference(report["workload"], chosen["submission"], dict(chosen["hparams"]),
                     statistics.median(per_step))


def reference_for(workload_name: str) -> Reference:
    """The reference of a cpu workload, from its report in workloads/targets/."""
    from workloads import targets as reports

    try:
        report = reports.read_report(workload_name)
    except FileNotFoundError as error:
        raise NoReferenceError(f"{workload_name} has no target-setting report, so no reference "
                             f"point for a clock in reference seconds ({error})") from None
    return reference_from_report(report)


@dataclasses.dataclass(frozen=True)
class Measurement:
    """This machine against a workload's reference: its seconds per reference step, and per
    reference second (`rate`, what `bench.protocol.SubmissionClock` divides by)."""

    step_seconds: float
    rate: float


def measure(workload, timer: Callable[[], float] = time.perf_counter) -> Measurement:
    """Measure this machine against `workload`'s reference (its report in workloads/targets/).
    `workload` must be loaded."""
    reference = reference_for(workload.name)
    step_seconds = measure_step_seconds(workload, reference, timer)
    return Measurement(step_seconds, clock_rate(step_seconds, reference))


def clock_rate(measured_step_seconds: float, reference: Reference) -> float:
    """Seconds this machine takes per reference second."""
    if not measured_step_seconds > 0:
        raise ValueError(f"a measured step time must be positive, not {measured_step_seconds}")
    return measured_step_seconds / reference.step_seconds


def measure_step_seconds(workload, reference: Reference,
                         timer: Callable[[], float] = time.perf_counter) -> float:
    """Seconds one training step of `reference`'s configuration takes on this machine now: the
    median per-step time of `BURSTS` bursts of about `BURST_SECONDS` each, after two steps that
    compile. Batches come from the workload's training stream (seed 0), placed as the loop
    places them. `workload` must be loaded (its data)."""
    from bench import registry
    from bench.submission import resolve_hparams
    from bench.trial.loop import WITHOUT_NORM, make_train_step

    submission = registry.get_submission(reference.submission)
    params, model_state = workload.init(jax.random.key(0))
    optimizer = submission.make_optimizer(resolve_hparams(submission, reference.hparams),
                                          workload.info(params))
    state = [params, model_state, optimizer.init(params), 0]  # ..., steps taken
    train_step, rng = make_train_step(workload, optimizer), jax.random.key(1)
    source = workload.train_batches(workload.spec.batch_size, 0)
    batches = devices.batch_stream(source, devices.batch_placer(devices.data_mesh(),
                                                                workload.spec.batch_size))

    def run(count: int) -> float:
        """Seconds `count` steps take, synchronised at the end."""
        start = timer()
        params, model_state, opt_state, step = state
        for index in range(step, step + count):
            params, model_state, opt_state, _ = train_step(
                params, model_state, opt_state, next(batches), rng, np.int32(index), WITHOUT_NORM)
        jax.block_until_ready(params)
        state[:] = [params, model_state, opt_state, step + count]
        return timer() - start

    try:
        run(2)  # compiles
        per_step = run(2) / 2
        chunk = max(1, min(MAX_CHUNK, int(CHUNK_SECONDS / per_step)))
        chunks = max(1, round(BURST_SECONDS / (chunk * per_step)))
        bursts = [sum(run(chunk) for _ in range(chunks)) / (chunk * chunks)
                  for _ in range(BURSTS)]
    finally:
        batches.close()
    return statistics.median(bursts)
