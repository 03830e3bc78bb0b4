"""The command line: one-line errors for bad input, tables, and a real run end to end."""

import json

from click.testing import CliRunner

from bench.cli import main
from tests.conftest import write_submission


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_unknown_workload_is_one_line_error():
    result = invoke("run", "--workload", "mnist1", "--submission", "nadamw")
    assert result.exit_code == 2
    assert "unknown workload 'mnist1'. Did you mean mnist1d" in result.output
    assert "Traceback" not in result.output


def test_submission_without_the_api(tmp_path):
    path = write_submission(tmp_path, "DEFAULT_HPARAMS = {}\n", name="noapi")
    result = invoke("run", "-w", "mnist1d", "-s", str(path))
    assert result.exit_code == 2
    assert "does not define `make_optimizer" in result.output
    assert "Traceback" not in result.output


def test_invalid_hparams_file(tmp_path):
    bad = tmp_path / "h.json"
    bad.write_text('{"learning_rate": }')
    result = invoke("run", "-w", "mnist1d", "-s", "nadamw", "--hparams", str(bad))
    assert result.exit_code == 2 and "not valid JSON" in result.output
    bad.write_text('{"lr": 0.1}')
    result = invoke("run", "-w", "mnist1d", "-s", "nadamw", "--hparams", str(bad))
    assert result.exit_code == 2 and "unknown hyperparameter(s) lr" in result.output


def test_list_tables():
    workloads = invoke("list", "workloads")
    assert workloads.exit_code == 0 and "mnist1d" in workloads.output and "cpu" in workloads.output
    submissions = invoke("list", "submissions")
    assert submissions.exit_code == 0 and "nadamw" in submissions.output


def test_run_writes_a_record_then_skips(tmp_path):
    args = ["run", "-w", "mnist1d_mlp", "-s", "nadamw", "--max-steps", "20",
            "--eval-period", "1000", "--results-dir", str(tmp_path), "--hparam",
            "learning_rate=0.003"]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert "BUDGET" in first.output and "record:" in first.output
    path = tmp_path / "single" / "nadamw" / "mnist1d_mlp" / "study_0" / "trial_0.json"
    record = json.loads(path.read_text())
    assert record["steps"] == 20 and record["hparams"]["learning_rate"] == 0.003
    assert record["train_curve"]["learning_rate"][0] == 0.0  # warmup starts at zero
    second = invoke(*args)
    assert second.exit_code == 0 and "skipped" in second.output


def test_importing_scoring_loads_neither_jax_nor_the_runner():
    """`bench/__init__` is lazy: reading records and scoring need no accelerator stack."""
    import subprocess
    import sys

    probe = "import sys, bench.scoring; print(sorted({'jax', 'bench.trial.loop'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_bench_exports_the_run_api_on_first_use():
    import bench
    from bench.api import run

    assert bench.run is run and "run" in bench.__all__


def test_unknown_study_backend_is_refused():
    import pytest

    from bench.tuning import run_study_on

    with pytest.raises(ValueError, match="unknown backend 'kubernetes'"):
        run_study_on("kubernetes", "nadamw", ["mnist1d"])
