"""Cold and warm compilation cache: the same trial's submission time with an empty persistent
compilation cache and with the cache that trial filled, side by side.

The training loop compiles everything the clock times before the clock starts (the training
step, the submission's `eval_params`, a controller's harness functions: bench/trial/loop.py),
so under the cpu-tier rules the cache should change the compile time only: submission time
cold / warm should be 1 within noise, compile time cold / warm well above 1. Each trial runs in a
fresh process (jax's in-memory caches empty), with evaluations every steps/4 steps; a round is
one cold trial (a new empty cache directory) and then one warm trial (the same directory), and
the figures are medians over the rounds. Submission time under cpu-v1 includes the setup
(import, make_optimizer, optimizer.init), which the cache does not change either.

    python benchmarks/cold_warm_cache.py [--rounds 3] [--steps 200] [--workload mnist1d]

Run with PYTHONPATH pointing at another checkout to measure that checkout's loop.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SUBMISSIONS = ("nadamw", "schedule_free_adamw", "autolrs")
FIELDS = ("submission_time", "step0_eval", "compile_time")


def one_trial(workload_name: str, submission_name: str, steps: int, cache: str) -> dict:
    """Run one trial in this process with the persistent cache in `cache`; its timings."""
    from bench import registry
    from bench.environment import enable_compilation_cache
    from bench.protocol import ProtocolSettings
    from bench.trial.loop import run_trial

    enable_compilation_cache(cache)
    workload = registry.get_workload(workload_name)
    workload.load()
    submission = registry.get_submission(submission_name)
    settings = ProtocolSettings(rules="cpu-v1", max_steps=steps,
                                eval_every_steps=max(1, steps // 4), max_runtime=1e6)
    result = run_trial(workload, submission, dict(submission.default_hparams), settings=settings)
    if result.outcome.value not in ("budget", "hit"):
        raise RuntimeError(f"{submission_name}: {result.outcome.value}: {result.message}")
    return {"submission_time": result.submission_time, "compile_time": result.compile_time,
            "step0_eval": result.evals[0]["submission_time"]}


def in_fresh_process(workload: str, submission: str, steps: int, cache: Path) -> dict:
    command = [sys.executable, __file__, "--one", submission, "--workload", workload,
               "--steps", str(steps), "--cache", str(cache)]
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(workload: str, submission: str, steps: int, rounds: int, tmp: Path) -> dict:
    """Median of each field over the rounds, cold and warm."""
    cold: list[dict] = []
    warm: list[dict] = []
    for index in range(rounds):
        cache = tmp / f"{submission}-{index}"
        cold.append(in_fresh_process(workload, submission, steps, cache))
        warm.append(in_fresh_process(workload, submission, steps, cache))
    return {label: {field: statistics.median(run[field] for run in runs) for field in FIELDS}
            for label, runs in (("cold", cold), ("warm", warm))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--workload", default="mnist1d")
    parser.add_argument("--submissions", default=",".join(SUBMISSIONS))
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one trial, JSON out
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_trial(args.workload, args.one, args.steps, args.cache)))
        return 0
    print(f"{args.workload}, {args.steps} steps, median of {args.rounds} rounds "
          "(seconds; ratio = cold / warm)")
    print(f"{'submission':<20} {'submission time':>26} {'step-0 eval stamp':>26} "
          f"{'compile time':>26}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.submissions.split(","):
            times = measure(args.workload, name, args.steps, args.rounds, Path(tmp))
            cells = [f"{times['cold'][f]:7.3f} {times['warm'][f]:7.3f} "
                     f"{times['cold'][f] / times['warm'][f]:9.2f}x" for f in FIELDS]
            print(f"{name:<20} " + " ".join(f"{cell:>26}" for cell in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
