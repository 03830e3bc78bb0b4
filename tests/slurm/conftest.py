"""The tests marked `slurm` need a running SLURM cluster: `make test-slurm` starts a one-node one.

Without one (no `squeue`, or it cannot reach a controller) they are skipped. Jobs inherit the
environment of the test process (sbatch's default), so they import this checkout's `bench` when
PYTHONPATH names it, as `scripts/slurm/run_tests.sh` arranges.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest


def cluster_answers() -> bool:
    if shutil.which("squeue") is None:
        return False
    try:
        answer = subprocess.run(["squeue", "--noheader"], capture_output=True, timeout=20)
        return answer.returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.fixture(autouse=True)
def slurm_cluster():
    if not cluster_answers():
        pytest.skip("no SLURM cluster answers squeue; `make test-slurm` starts one")
