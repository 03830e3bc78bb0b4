"""Full-tier step time on fake data: the harness against a bare loop, and the input pipeline's rate.

For each of AlgoPerf's eight base workloads (as bench/rules/algoperf-v0.5.toml lists them:
criteo1tb, fastmri, imagenet_resnet, imagenet_vit, librispeech_conformer, librispeech_deepspeech,
ogbg, wmt) this trains the workload's
fake copy (`Workload.fake(model_size)`: synthetic inputs of the true shapes through the
workload's own pipeline; at `--model-size full` the real model and batch size) with a NadamW
submission and reports, per workload:

- bare: seconds per step of the same jit-compiled training step in a plain loop, on a few
  batches built beforehand and placed on the device (`_common.bare_step_seconds`), so that
  neither the harness nor the input pipeline is in it: what the device needs per step;
- harness: submission time per step of a trial (`bench.trial.loop.run_trial`, compilation and
  evaluation excluded), fed by the workload's real pipeline as in a study;
- harness / bare: what the harness and the pipeline add to a step (1.00 = nothing);
- pipeline: seconds per batch of the workload's training stream alone (`train_batches`, after
  one warm-up batch per worker), and examples per second; pipeline / bare above 1 means the
  device would wait for data at this machine's core count. For ImageNet this is the pipeline
  on random pixels (no JPEG decoding); benchmarks/imagenet_pipeline.py measures it on JPEGs.

Each workload is measured once (`--steps` steps for each of bare and harness); rows are
printed as they finish, and `--out FILE` also writes them as JSON with the machine's devices.
On an accelerator (see the README's "GPU measurements"):

    python benchmarks/full_tier_steps.py --out full_tier_steps.json

and on a CPU, as a check that everything runs (a couple of minutes for all eight):

    python benchmarks/full_tier_steps.py --model-size tiny --steps 5
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import bare_step_seconds, harness_step_seconds  # noqa: E402

from bench import registry, rules  # noqa: E402
from workloads import _grain  # noqa: E402

RULES = "algoperf-v0.5"  # the rules data whose base workloads are measured
DEVICE_BATCHES = 4  # distinct batches the bare loop cycles through


def algoperf_bases(version: str = RULES) -> list[str]:
    """AlgoPerf's base workloads, as the rules data of `version` lists them."""
    return rules.load(version).base_workloads


def stop(stream) -> None:
    if hasattr(stream, "close"):
        stream.close()


def pipeline_seconds_per_batch(workload, batches: int) -> float:
    """Seconds per training batch of the workload's pipeline alone (after a warm-up)."""
    stream = workload.train_batches(workload.spec.batch_size, seed=0)
    for _ in range(max(1, getattr(stream, "workers", 1))):  # every worker process started
        next(stream)
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    elapsed = time.perf_counter() - start
    stop(stream)
    return elapsed / batches


def device_batches(workload) -> itertools.cycle:
    """A few training batches, built now and placed on the default device, cycled."""
    stream = workload.train_batches(workload.spec.batch_size, seed=0)
    placed = [jax.device_put(batch) for batch in itertools.islice(stream, DEVICE_BATCHES)]
    stop(stream)
    return itertools.cycle(placed)


def measure(name: str, model_size: str, steps: int, pipeline_batches: int, submission) -> dict:
    workload = registry.get_workload(name).fake(model_size)
    workload.load(None)
    hparams = dict(submission.default_hparams)
    bare = bare_step_seconds(workload, submission, hparams, steps,
                             batches=device_batches(workload))
    harness, _ = harness_step_seconds(workload, submission, hparams, steps)
    pipeline = pipeline_seconds_per_batch(workload, pipeline_batches)
    return {"workload": name, "batch_size": workload.spec.batch_size, "model": workload.spec.model,
            "bare_s": bare, "harness_s": harness, "harness_over_bare": harness / bare,
            "pipeline_s_per_batch": pipeline,
            "pipeline_examples_per_s": workload.spec.batch_size / pipeline,
            "pipeline_over_bare": pipeline / bare}


def print_row(row: dict) -> None:
    print(f"{row['workload']:<23} {row['batch_size']:>6} {row['bare_s'] * 1e3:>10.2f} "
          f"{row['harness_s'] * 1e3:>12.2f} {row['harness_over_bare']:>8.3f} "
          f"{row['pipeline_s_per_batch'] * 1e3:>11.2f} {row['pipeline_examples_per_s']:>11.0f} "
          f"{row['pipeline_over_bare']:>10.2f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-size", choices=("full", "tiny"), default="full")
    parser.add_argument("--steps", type=int, default=200, help="steps of each of bare, harness")
    parser.add_argument("--pipeline-batches", type=int, default=20)
    parser.add_argument("--workloads", default=",".join(algoperf_bases()),
                        help=f"comma-separated names (default: the base workloads of {RULES})")
    parser.add_argument("--submission", default="nadamw")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    submission = registry.get_submission(args.submission)
    machine = {"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
               "cores": _grain.available_cores(),
               "data_workers": _grain.worker_count(), "model_size": args.model_size,
               "steps": args.steps, "submission": args.submission}
    print(f"{machine['backend']}: {len(machine['devices'])} x {jax.devices()[0].device_kind}; "
          f"{machine['cores']} cores, {machine['data_workers']} data workers; "
          f"{args.model_size} models, {args.steps} steps, {args.submission}", flush=True)
    print(f"{'workload':<23} {'batch':>6} {'bare ms':>10} {'harness ms':>12} {'ratio':>8} "
          f"{'data ms/b':>11} {'examples/s':>11} {'data/bare':>10}", flush=True)
    rows, failed = [], []
    for name in args.workloads.split(","):
        try:
            rows.append(measure(name, args.model_size, args.steps, args.pipeline_batches,
                                submission))
            print_row(rows[-1])
        except Exception as error:  # one workload's failure must not hide the others'
            failed.append({"workload": name, "error": f"{type(error).__name__}: {error}"})
            print(f"{name:<23} failed: {failed[-1]['error']}", flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(
                {"machine": machine, "rows": rows, "failed": failed}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
