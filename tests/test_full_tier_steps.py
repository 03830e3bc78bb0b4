"""benchmarks/full_tier_steps.py: on a CPU with tiny models, every AlgoPerf base workload runs.

The benchmark's numbers are for an accelerator (README, "GPU measurements"); here it is checked
that it measures all eight workloads and that its rows are consistent. Slow (about two minutes
on 2 cores): `make test-slow`.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# AlgoPerf's eight base workloads (Dahl et al. 2023, arXiv 2306.07179, Table 1)
ALGOPERF_BASES = {"criteo1tb", "fastmri", "imagenet_resnet", "imagenet_vit",
                  "librispeech_conformer", "librispeech_deepspeech", "ogbg", "wmt"}


@pytest.mark.slow
def test_tiny_run_measures_every_base_workload(tmp_path):
    out = tmp_path / "steps.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/full_tier_steps.py", "--model-size", "tiny", "--steps", "5",
         "--pipeline-batches", "3", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    found = json.loads(out.read_text())
    assert found["failed"] == []
    rows = {row["workload"]: row for row in found["rows"]}
    assert set(rows) == ALGOPERF_BASES
    for row in rows.values():
        assert row["model"].startswith("tiny") and 0 < row["batch_size"] <= 16
        for key in ("bare_s", "harness_s", "pipeline_s_per_batch"):
            assert 0 < row[key] < 60 and math.isfinite(row[key])
        assert row["harness_over_bare"] == pytest.approx(row["harness_s"] / row["bare_s"])
        assert row["pipeline_examples_per_s"] == pytest.approx(
            row["batch_size"] / row["pipeline_s_per_batch"])
    for name in ALGOPERF_BASES:
        assert name in done.stdout  # a printed row each
