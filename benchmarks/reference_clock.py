"""The clock in reference seconds (rules cpu-v3, bench/speed.py) against the machine's own seconds.

Two questions, measured side by side in one run:

1. How steady is the machine's speed? Each workload's reference point trains for `--windows`
   windows of `--window-seconds` in this process: how far one window's step time strays from
   their mean is the error a rate timed once, in one such window, before a trial would carry
   (which is why a trial times the reference through its whole length). The mean against the
   report says how much slower or faster this machine is than the one that set the budget.
2. Does a trial's submission time stay put on a slower machine? The same trial (nadamw's default
   point, `--steps` steps, a `bench run` process) runs on both cores and then kept to one
   (`taskset -c 0`: a slower machine), under cpu-v2 (machine seconds) and cpu-v3 (reference
   seconds): the slowdown each clock shows is the ratio one core / two (1.0: it did not see it).
3. How much does the reference's chunking move its step time? It trains in chunks of
   `ReferenceSteps.chunk` steps between synchronisations (what the trial's loop gives it on its
   clock in reference seconds) and, interleaved, in chunks a third that size (what sizing chunks
   on this machine's own seconds gave at a rate of about 3, before 2026-12-01): the ratio is the
   error such a rate carried, on a slow machine and not on a fast one.
4. Can trials run two at a time? The same trial alone on one core, and two copies at once, one
   per core (`taskset`, as `bench study --jobs 2` keeps each process to its share of the CPUs),
   `--rounds` times: machine seconds a step under cpu-v2 (does a neighbour slow a trial?) and
   reference seconds a step under cpu-v3 (does the clock still count the same?).

    python benchmarks/reference_clock.py [-w synthetic_lm -w mnist1d_mlp] [--windows 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench import registry, speed

STEPS = {"synthetic_lm": 1500, "mnist1d_mlp": 12000, "mnist1d": 6000, "digits_autoencoder": 10000,
         "modular_arithmetic": 2000}


def window_spread(workload_name: str, windows: int, seconds: float) -> None:
    """The reference point's step time over successive windows of `seconds`: how far one
    window's rate strays from the mean over all of them."""
    workload = registry.get_workload(workload_name)
    workload.load()
    reference = speed.reference_for(workload_name)
    steps = speed.ReferenceSteps(workload, reference)
    per_window = []
    for _ in range(windows):
        before_seconds, before_steps = steps.seconds, steps.steps
        steps.catch_up((steps.seconds + seconds - speed.INITIAL_SECONDS) / speed.SHARE)
        per_window.append((steps.seconds - before_seconds) / (steps.steps - before_steps))
    steps.close()
    mean = steps.step_seconds
    print(f"{workload_name}: reference {reference.submission}, {reference.step_seconds * 1e3:.3f} "
          f"ms a step where its budget was set; here {mean * 1e3:.3f} ms (rate "
          f"{mean / reference.step_seconds:.2f}); {windows} windows of {seconds:g} s within "
          f"{min(per_window) / mean:.3f}-{max(per_window) / mean:.3f} of the mean", flush=True)


def chunking_cost(workload_name: str, rounds: int = 40) -> None:
    """The reference's step time in chunks a third of `ReferenceSteps.chunk`, over that in
    chunks of it: the median of `rounds` interleaved pairs of about 60 steps each."""
    workload = registry.get_workload(workload_name)
    workload.load()
    steps = speed.ReferenceSteps(workload, speed.reference_for(workload_name))
    large = steps.chunk
    small = max(1, large // 3)
    ratios = []
    for _ in range(rounds):
        per_step = []
        for chunk in (small, large):
            before_seconds, before_steps = steps.seconds, steps.steps
            for _ in range(max(1, 60 // chunk)):
                steps.run(chunk)
            per_step.append((steps.seconds - before_seconds) / (steps.steps - before_steps))
        ratios.append(per_step[0] / per_step[1])
    steps.close()
    print(f"{workload_name}: chunks of {small} steps take x{statistics.median(ratios):.3f} the "
          f"time a step of chunks of {large} ({rounds} interleaved pairs)", flush=True)


def seconds_per_step_at_once(workload_name: str, rules: str, steps: int,
                             cores: Sequence[str], results_dir: Path) -> list[float]:
    """Submission seconds a step of nadamw's default point, one `bench run` process per entry
    of `cores` (taskset's lists), all started at once."""
    outs = [results_dir / f"{rules}-{index}" for index in range(len(cores))]
    processes = [subprocess.Popen(
        ["taskset", "-c", core, sys.executable, "-m", "bench.cli", "run", "-w", workload_name,
         "-s", "nadamw", "--rules", rules, "--max-steps", str(steps), "--max-runtime", "1e9",
         "--results-dir", str(out), "--json"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL) for core, out in zip(cores, outs)]
    per_step = []
    for process, out in zip(processes, outs):
        if process.wait() != 0:
            raise RuntimeError(f"bench run failed for {workload_name} under {rules}")
        record = json.loads(next(out.rglob("trial_0.json")).read_text())
        per_step.append(record["submission_time"] / record["steps"])
    return per_step


def two_at_once(workload_name: str, steps: int, rounds: int) -> None:
    """Per-step seconds of a trial alone on core 0 and of two at once on cores 0 and 1, under
    both clocks, over `rounds` rounds: the pairs' median over the lone trials'."""
    for rules, unit in (("cpu-v2", "machine"), ("cpu-v3", "reference")):
        alone, paired = [], []
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as directory:
                alone += seconds_per_step_at_once(workload_name, rules, steps, ["0"],
                                                  Path(directory) / "alone")
                paired += seconds_per_step_at_once(workload_name, rules, steps, ["0", "1"],
                                                   Path(directory) / "pair")
        print(f"{workload_name} {rules}: {unit} ms a step alone "
              f"{', '.join(f'{1e3 * x:.3f}' for x in alone)}; two at once "
              f"{', '.join(f'{1e3 * x:.3f}' for x in paired)}: median x"
              f"{statistics.median(paired) / statistics.median(alone):.3f}", flush=True)


def slowdown_seen(workload_name: str, steps: int) -> None:
    """The same trial on both cores and on one: the slowdown each clock shows."""
    with tempfile.TemporaryDirectory() as directory:
        for rules, unit in (("cpu-v2", "machine"), ("cpu-v3", "reference")):
            [both] = seconds_per_step_at_once(workload_name, rules, steps, ["0,1"],
                                              Path(directory) / "both")
            [one] = seconds_per_step_at_once(workload_name, rules, steps, ["0"],
                                             Path(directory) / "one")
            print(f"{workload_name} {rules}: {1e3 * both:.3f} {unit} ms a step on 2 cores, "
                  f"{1e3 * one:.3f} on 1 core: x{one / both:.2f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-w", "--workload", action="append", dest="workloads")
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--window-seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of item 4")
    parser.add_argument("--only", type=int, choices=(1, 2, 3, 4), help="Measure one item only")
    parser.add_argument("--steps", type=int, help="Steps of each trial (default: about 10 s "
                        "on the development machine)")
    args = parser.parse_args()
    workloads = args.workloads or ["synthetic_lm", "mnist1d_mlp"]
    items = {
        1: lambda name: window_spread(name, args.windows, args.window_seconds),
        2: lambda name: slowdown_seen(name, args.steps or STEPS[name]),
        3: chunking_cost,
        4: lambda name: two_at_once(name, args.steps or STEPS[name], args.rounds),
    }
    for item, measure in items.items():
        if args.only in (None, item):
            for name in workloads:
                measure(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
