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

from bench.environment import enable_compilation_cache  # noqa: E402
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
    parser.add_argument("--hparams", default=str(FIXTURE / "tuning_point.json"),
                        help="its hyperparameters (default: the fixture's point)")
    args = parser.parse_args()
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


if __name__ == "__main__":
    sys.exit(main())
