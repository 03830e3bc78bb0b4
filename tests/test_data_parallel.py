"""One trial over several (simulated) devices gives the single-device results."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import json
import jax
from bench.protocol import ProtocolSettings
from bench.trial.loop import run_trial
from bench.submission import load_submission
from bench import registry
from tests.conftest import TinyRegression
workload = registry.get_workload(WORKLOAD)
workload.load()
submission = registry.get_submission("nadamw")
result = run_trial(workload, submission, dict(submission.default_hparams, learning_rate=3e-3),
                   settings=ProtocolSettings(max_steps=30, eval_every_steps=15, evaluate_test=False))
print(json.dumps({"devices": jax.device_count(), "count": result.device_count,
                  "outcome": result.outcome.value, "message": result.message,
                  "loss": result.train_curve["loss"],
                  "evals": [row["validation/loss"] for row in result.evals]}))
"""


def run_with_devices(count, workload="mnist1d_mlp"):
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={count}")
    done = subprocess.run([sys.executable, "-c", f"WORKLOAD = {workload!r}\n" + SCRIPT],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_four_devices_match_one():
    one, four = run_with_devices(1), run_with_devices(4)
    assert one["devices"] == one["count"] == 1 and four["devices"] == four["count"] == 4
    assert four["outcome"] == "budget", four["message"]
    assert four["loss"] == pytest.approx(one["loss"], rel=1e-4, abs=1e-5)
    assert four["evals"] == pytest.approx(one["evals"], rel=1e-4, abs=1e-5)
