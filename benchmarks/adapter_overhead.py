"""Adapter overhead: submission time per step of an AlgoPerf-API submission through
`bench.algoperf_api` against bench's own form of the same update rule.

Both run through the same harness (`bench.trial.loop.run_trial`), on the same workload, batch
size and number of steps: bench's `nadamw` submission, and the AlgoPerf-API NadamW fixture
(tests/fixtures/algoperf/nadamw) at the same hyperparameters, whose trajectory is the same
(tests/test_algoperf_adapter.py). What differs is the step: one compiled optax update called by
the harness, against the adapter's Python around AlgoPerf's `data_selection` and `update_params`
(the per-step random keys, the namedtuple, the submission's own jitted step with its shardings
and logging). As in step_overhead.py, a 1-3 ms CPU step varies by +-10% between runs, so the two
run alternately in many short rounds and the figure is the median of the per-round ratios
adapter / native with its interquartile range.

    python benchmarks/adapter_overhead.py [--rounds 15] [--steps 400]
    python benchmarks/adapter_overhead.py --submission path/to/algoperf_submission.py \\
        --hparams tuning_point.json      # another AlgoPerf-API file against bench's nadamw

With --time-to-target, whole trials to the target instead, evaluated every 50 steps (finer than
the cpu tier's 0.25 s evaluation period, which would round a 1 s time to target to a quarter of
itself), seed by seed, by default at a tuned point that reaches mnist1d_mlp's target on every
seed (learning rate 8e-3, the fixture's tuned_point.json):

    python benchmarks/adapter_overhead.py --time-to-target --rounds 7 --workloads mnist1d_mlp
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import harness_step_seconds, load, quartiles  # noqa: E402

from bench import rules  # noqa: E402
from bench.environment import enable_compilation_cache  # noqa: E402
from bench.protocol import ProtocolSettings  # noqa: E402
from bench.trial.loop import run_trial  # noqa: E402
from bench.submission import load_submission  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "algoperf" / "nadamw"
WORKLOADS = ("mnist1d_mlp", "mnist1d")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--submission", default=str(FIXTURE / "submission.py"),
                        help="the AlgoPerf-API file (default: the NadamW fixture)")
    parser.add_argument("--hparams", default=None,
                        help="its hyperparameters (default: the fixture's tuning_point.json, "
                             "tuned_point.json with --time-to-target)")
    parser.add_argument("--time-to-target", action="store_true",
                        help="compare whole trials to the target instead of steps")
    args = parser.parse_args()
    if args.hparams is None:
        args.hparams = str(FIXTURE / ("tuned_point.json" if args.time_to_target
                                      else "tuning_point.json"))
    if args.time_to_target:
        return time_to_target(args)
    algoperf = load_submission(args.submission)
    point = json.loads(Path(args.hparams).read_text())
    with tempfile.TemporaryDirectory() as cache:
        enable_compilation_cache(cache)
        print(f"{'workload':<12} {'native ms/step':>15} {'adapter ms/step':>16} "
              f"{'ratio (median of rounds)':>25} {'IQR':>12}")
        for name in args.workloads.split(","):
            workload, native, defaults = load(name)
            native_point = {**defaults, **{k: v for k, v in point.items() if k in defaults}}
            ours, theirs = [], []
            for _ in range(args.rounds):
                theirs.append(harness_step_seconds(workload, native, native_point, args.steps)[0])
                ours.append(harness_step_seconds(workload, algoperf, point, args.steps)[0])
            low, ratio, high = quartiles([a / b for a, b in zip(ours, theirs)])
            print(f"{name:<12} {1e3 * statistics.median(theirs):>15.3f} "
                  f"{1e3 * statistics.median(ours):>16.3f} {ratio:>25.3f} "
                  f"{low:>5.3f}-{high:.3f}")
    return 0


def time_to_target(args) -> int:
    """Per seed (one round each), a trial of each form to the target; ratio of the times."""
    algoperf = load_submission(args.submission)
    point = json.loads(Path(args.hparams).read_text())
    print(f"{'workload':<12} {'seed':>4} {'native s':>9} {'steps':>6} {'adapter s':>10} "
          f"{'steps':>6} {'ratio':>6}")
    for name in args.workloads.split(","):
        workload, native, defaults = load(name)
        native_point = {**defaults, **{k: v for k, v in point.items() if k in defaults}}
        ratios = []
        settings = ProtocolSettings(eval_every_steps=50, rules=rules.MACHINE_CLOCK_VERSION)
        for seed in range(args.rounds):
            theirs = run_trial(workload, native, native_point, seed=seed, settings=settings)
            ours = run_trial(workload, algoperf, point, seed=seed, settings=settings)
            ratio = float("nan")
            if theirs.time_to_target and ours.time_to_target:
                ratio = ours.time_to_target / theirs.time_to_target
                ratios.append(ratio)
            print(f"{name:<12} {seed:>4} {theirs.time_to_target or float('nan'):>9.2f} "
                  f"{theirs.steps_to_target or 0:>6} {ours.time_to_target or float('nan'):>10.2f} "
                  f"{ours.steps_to_target or 0:>6} {ratio:>6.3f}")
        if len(ratios) >= 2:
            low, ratio, high = quartiles(ratios)
            print(f"{name:<12} median ratio adapter / native {ratio:.3f} (IQR {low:.3f}-{high:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
