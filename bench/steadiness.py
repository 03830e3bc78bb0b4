"""Was the machine quiet while a run was timed? Read off the run's own evaluation curve.

Cpu-tier budgets (`bench set-targets`) and times to target are measured seconds, and on a
2-core machine any other job takes a share of them. Evaluations sit at fixed steps (every 1% of
the step hint), so every interval between two evaluations holds the same number of steps and,
for an optimizer whose step always costs the same, takes the same submission time. Measured on
the development machine (2026-12-01, mnist1d, NadamW's target-setting seeds): with nothing else
running, a run's intervals took 0.65-0.86 ms a step; while another job ran, stretches of several
seconds took 1.0-1.2 ms a step, and one budget came out 1.8x too high.

So, per run:

    per-step time of interval i:  t_i = (T_{i+1} - T_i) / (s_{i+1} - s_i)
    fast step time:               f   = the 10th percentile of the t_i
    slow share:                   the fraction of intervals with t_i > SLOW_FACTOR * f

with (s_i, T_i) the evaluations' steps and submission times, leaving out the first interval
(the first steps of a process run slower while caches warm). A run is *unsteady* when its slow
share exceeds UNSTEADY_SHARE. On a quiet machine the slow share of those runs was 0-1%; in the
disturbed ones 40-75%.

A slowdown that lasts a whole run leaves no trace in its own curve. Runs of the same work (one
submission's trials of one workload in several studies: the same step, the same cost) can still
be compared: a run whose median per-step time exceeds SLOW_FACTOR times the fastest of them ran
*slow against its siblings* (measured: NadamW's mnist1d trial of 2026-11-30's second interim run
took 1.23 ms a step throughout, the target-setting seeds 0.72 ms).

A trial timed in reference seconds (rules cpu-v3, `bench.speed`: its record carries a
`clock_rate`) is judged against its siblings alone. Its clock divides this machine's seconds by
a rate measured in bursts of the reference point's steps, so its intervals stray with the
rate's estimate and not only with the machine: on the cpu-v3 reference board's first 82 trials
(2026-12-02), 77 had more than 5% of their intervals over 1.3x their fast ones, and none ran
slow against its siblings. A NadamW trial on mnist1d, for one, had per-step reference times of
0.57, 0.68 and 0.81 ms at its 10th, 50th and 90th percentile of intervals. Over a whole trial
the strays average out (the same trial run three times: 4-7% apart, README), which is what the
sibling check measures.

An unsteady or slow run's times are suspect, and so is a budget measured from it: measure it
again on a quiet machine. With evaluations at fixed steps the same seed reaches the same metric
at the same steps, so a rerun changes only the times. A submission whose own steps vary in cost
(one that probes or re-plans every so often) is unsteady too, which is why this module refuses
nothing: it reports, and `scripts/reference/steadiness.py --set-aside` lets a reference run
measure the flagged trials again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

SLOW_FACTOR = 1.3  # an interval this much slower per step than the run's fast ones is slow
UNSTEADY_SHARE = 0.05  # a run with more slow intervals than this is unsteady
FAST_PERCENTILE = 10
MIN_INTERVALS = 10  # fewer intervals than this (after the first) say nothing either way


def step_times(steps: Sequence[int], times: Sequence[float]) -> list[float]:
    """Seconds per step of each interval between consecutive evaluations, the first left out
    (and any interval without steps)."""
    pairs = list(zip(steps, times))
    per_step = [(t1 - t0) / (s1 - s0) for (s0, t0), (s1, t1) in zip(pairs, pairs[1:])
                if s1 > s0]
    return per_step[1:]


def slow_share(steps: Sequence[int], times: Sequence[float],
               factor: float = SLOW_FACTOR) -> float | None:
    """The fraction of intervals slower per step than `factor` times the run's fast step time;
    None when the run has too few intervals to tell."""
    per_step = step_times(steps, times)
    if len(per_step) < MIN_INTERVALS:
        return None
    fast = float(np.percentile(per_step, FAST_PERCENTILE))
    return sum(t > factor * fast for t in per_step) / len(per_step)


def is_unsteady(share: float | None) -> bool:
    return share is not None and share > UNSTEADY_SHARE


def median_step_time(steps: Sequence[int], times: Sequence[float]) -> float | None:
    """The median seconds per step over a run's intervals (None: too few to tell)."""
    per_step = step_times(steps, times)
    return float(np.median(per_step)) if len(per_step) >= MIN_INTERVALS else None


def slow_against_siblings(medians: Sequence[float | None],
                          factor: float = SLOW_FACTOR) -> list[bool]:
    """Which of several runs of the same work ran slower per step (median) than `factor` times
    the fastest of them; a run without a median is not judged (False)."""
    known = [median for median in medians if median is not None]
    if len(known) < 2:
        return [False] * len(medians)
    fastest = min(known)
    return [median is not None and median > factor * fastest for median in medians]


def record_curve(record: Mapping) -> tuple[list[int], list[float]]:
    """A trial record's (a dict as written) evaluation steps and submission times."""
    evals = record.get("evals") or []
    return [e["step"] for e in evals], [e["submission_time"] for e in evals]


def record_slow_share(record: Mapping) -> float | None:
    """`slow_share` of a trial record, from its evaluations."""
    return slow_share(*record_curve(record))


def on_reference_clock(record: Mapping) -> bool:
    """Whether a trial record counts reference seconds (cpu-v3): its intervals are not judged."""
    return record.get("clock_rate") is not None


def record_unsteady(record: Mapping) -> bool:
    """Whether a trial record ran unsteadily: too many slow intervals on a clock of this
    machine's seconds (never on a clock in reference seconds, see the module docstring)."""
    return not on_reference_clock(record) and is_unsteady(record_slow_share(record))


def suspect(records: Sequence[Mapping]) -> list[bool]:
    """For trial records of the same work (one submission's trials of one workload): which ran
    unsteadily, or slow against the others."""
    slow = slow_against_siblings([median_step_time(*record_curve(r)) for r in records])
    return [record_unsteady(record) or late for record, late in zip(records, slow)]


def curve_slow_share(curve: Sequence[Sequence[float]]) -> float | None:
    """`slow_share` of a target-setting seed's curve of (step, submission time, metric)."""
    return slow_share([int(point[0]) for point in curve], [point[1] for point in curve])
