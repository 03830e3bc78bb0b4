"""`bench prepare`: looks up the workload module's prepare function; one-line errors."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from bench import registry
from bench.cli import main
from tests.test_criteo1tb import write_raw_days
from workloads import criteo1tb, fastmri


def test_prepare_functions_are_found_per_workload_module():
    assert registry.dataset_preparer("criteo1tb_resnet") is criteo1tb.prepare
    assert registry.dataset_preparer("fastmri") is fastmri.prepare
    assert registry.dataset_preparer("imagenet") is None


def test_bench_prepare_criteo1tb(tmp_path):
    write_raw_days(tmp_path / "raw", np.random.default_rng(0))
    result = CliRunner().invoke(
        main, ["prepare", "criteo1tb", "--raw", str(tmp_path / "raw"),
               "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # Rich wraps long lines
    assert "train 115, validation 0, test 10 examples" in output  # day 23 < 95M lines
    assert len(list((tmp_path / "data/criteo1tb/train").glob("*_dense.npy"))) == 23


def test_bench_prepare_errors_are_one_line(tmp_path):
    (tmp_path / "raw").mkdir()
    missing = CliRunner().invoke(
        main, ["prepare", "criteo1tb", "--raw", str(tmp_path / "raw"), "--data-dir", "x"])
    assert missing.exit_code == 2 and "day_0" in missing.output
    assert len(missing.output.strip().splitlines()) == 1
    tfds = CliRunner().invoke(
        main, ["prepare", "imagenet", "--raw", str(tmp_path / "raw"), "--data-dir", "x"])
    assert tfds.exit_code == 2 and "tfds build" in tfds.output
