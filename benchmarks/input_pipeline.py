"""Input pipeline: how much of the submission time the training loop owes to its input pipeline.

Per cpu-tier workload:

- host cost per batch: the median time of `next(batches)` on the workload's training stream,
  measured alone, as a share of the harness's time per step. The runner dispatches steps
  asynchronously, so the next batch is built while the device still runs the previous step:
  the device can wait for data at most this long per step, and only if the host has nothing
  else to wait for. Goal: below 2%.
- paired cost: submission time per step with the real pipeline against the same trial fed
  from batches built beforehand (a pipeline that costs nothing), median over paired rounds of
  the ratio minus one, with its interquartile range; for the inline pipeline the runner uses on
  CPU (bench.devices.Inline) and for the prefetching thread it uses on accelerators
  (bench.devices.Prefetcher), which on a 2-core CPU only competes for the cores. On this
  machine the spread of single rounds (+-5%) is wider than the effect, so this is a cross-check.
- time in next(): the runner's recorded `data_wait_time` as a share of submission time. On a
  CPU backend it overstates the wait: host and device share the cores, so the loop thread is
  sometimes descheduled inside `next` while XLA's threads compute, and the device is busy then.

    python benchmarks/input_pipeline.py [--rounds 11] [--steps 400]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import harness_step_seconds, load, quartiles  # noqa: E402

from bench import devices  # noqa: E402
from bench.environment import enable_compilation_cache  # noqa: E402

WORKLOADS = ("mnist1d_mlp", "mnist1d")


def batch_seconds(workload, count: int = 5000) -> float:
    """Median seconds of one `next` on the training stream (timed in groups of 50)."""
    batches = workload.train_batches(workload.spec.batch_size, 0)
    groups = []
    for _ in range(count // 50):
        start = time.perf_counter()
        for _ in range(50):
            next(batches)
        groups.append((time.perf_counter() - start) / 50)
    return statistics.median(groups)


def run(workload, submission, hparams, steps, stream):
    """Harness seconds per step and data-wait share, with `stream` as the runner's batch stream."""
    original = devices.batch_stream
    devices.batch_stream = stream
    try:
        seconds, result = harness_step_seconds(workload, submission, hparams, steps)
    finally:
        devices.batch_stream = original
    return seconds, result.data_wait_time / result.submission_time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        enable_compilation_cache(cache)
        print(f"{'workload':<12} {'host us/batch':>13} {'of a step':>9} "
              f"{'paired cost, inline (IQR)':>30} {'with thread':>11} {'time in next()':>14}")
        for name in WORKLOADS:
            workload, submission, hparams = load(name)
            prebuilt = list(itertools.islice(
                workload.train_batches(workload.spec.batch_size, 0), args.steps + 2))
            free = lambda source, place: devices.Inline(iter(prebuilt), place)  # noqa: E731
            steps, inline, prefetch, waits = [], [], [], []
            for _ in range(args.rounds):
                base, _ = run(workload, submission, hparams, args.steps, free)
                real, wait = run(workload, submission, hparams, args.steps, devices.Inline)
                threaded, _ = run(workload, submission, hparams, args.steps, devices.Prefetcher)
                steps.append(real)
                inline.append(real / base - 1)
                prefetch.append(threaded / base - 1)
                waits.append(wait)
            host = batch_seconds(workload)
            share = host / statistics.median(steps)
            low, cost, high = quartiles(inline)
            spread = f"({low:+.1%} to {high:+.1%})"
            print(f"{name:<12} {host * 1e6:13.1f} {share:9.2%} {cost:+8.2%} {spread:>21} "
                  f"{statistics.median(prefetch):+11.2%} {statistics.median(waits):14.2%}"
                  + ("" if share < 0.02 else "   (above the 2% goal)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
