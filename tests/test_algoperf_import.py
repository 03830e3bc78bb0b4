"""Importing AlgoPerf logs built in its documented layout, then scoring them."""

import csv
import json

import pytest
from click.testing import CliRunner

from bench import scoring
from bench.algoperf_import import base_workload, import_logs
from bench.cli import main
from bench.trial.record import RecordError, load_records

COLUMNS = ["accumulated_eval_time", "accumulated_logging_time", "accumulated_submission_time",
           "global_step", "preemption_count", "score", "test/accuracy", "total_duration",
           "validation/accuracy", "validation/loss"]


def write_trial(root, ruleset, submission, study, workload, trial, rows, meta=None):
    folder = root / ruleset / submission / f"study_{study}" / f"{workload}_jax" / f"trial_{trial}"
    folder.mkdir(parents=True)
    with (folder / "eval_measurements.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for step, time, accuracy, loss in rows:
            writer.writerow({
                "accumulated_eval_time": 1.0, "accumulated_logging_time": 0.1,
                "accumulated_submission_time": time, "global_step": step, "preemption_count": 0,
                "score": time, "test/accuracy": accuracy - 0.01, "total_duration": time + 5,
                "validation/accuracy": accuracy, "validation/loss": loss,
            })
    (folder / "hparams.json").write_text(json.dumps({"learning_rate": 0.001 * (trial + 1)}))
    (folder / "meta_data_0.json").write_text(json.dumps(
        meta or {"rng_seed": 7, "gpu_model_name": "NVIDIA A100-SXM4-40GB", "gpu_count": 8}
    ))
    return folder


def test_import_and_score(tmp_path):
    logs = tmp_path / "logs"
    # imagenet_resnet target: accuracy >= 0.77431
    write_trial(logs, "external_tuning", "nadamw", 0, "imagenet_resnet", 1,
                [(0, 0.0, 0.001, 7.0), (1000, 3600.0, 0.70, 1.5), (2000, 7200.0, 0.775, 1.0),
                 (3000, 10800.0, 0.78, 0.9)])
    write_trial(logs, "external_tuning", "nadamw", 0, "imagenet_resnet", 2,
                [(0, 0.0, 0.001, 7.0), (1000, 3700.0, 0.60, float("nan"))])
    write_trial(logs, "external_tuning", "shampoo", 0, "imagenet_resnet", 1,
                [(0, 0.0, 0.001, 7.0), (800, 2400.0, 0.80, 0.8)])
    written = import_logs(logs, tmp_path / "results")
    assert len(written) == 3
    records = {(r["submission"], r["trial"]): r for r in load_records([tmp_path / "results"])[0]}
    hit = records["nadamw", 1]
    assert hit["outcome"] == "hit" and hit["time_to_target"] == 7200.0
    assert hit["steps_to_target"] == 2000 and hit["ruleset"] == "external"
    assert hit["hparams"] == {"learning_rate": 0.002} and hit["seed"] == 7
    assert records["nadamw", 2]["outcome"] == "diverged"
    board = scoring.score(load_records([tmp_path / "results"])[0], bootstrap_samples=0)
    assert board.ratios["nadamw"]["imagenet_resnet"] == pytest.approx(3.0)
    assert board.ratios["shampoo"]["imagenet_resnet"] == 1.0
    # a second import of the same logs writes nothing new
    assert import_logs(logs, tmp_path / "results") == []


def test_target_from_meta_data_and_lower_is_better(tmp_path):
    logs = tmp_path / "logs"
    meta = {"workload.target_metric_name": "loss", "workload.validation_target_value": 1.2,
            "gpu_model_name": "X", "gpu_count": 1}
    write_trial(logs, "self_tuning", "mine", 2, "my_workload", 0,
                [(0, 0.0, 0.1, 3.0), (10, 5.0, 0.2, 1.1)], meta=meta)
    (record_path,) = import_logs(logs, tmp_path / "r")
    record = json.loads(record_path.read_text())
    assert record["ruleset"] == "self" and record["study"] == 2
    assert record["outcome"] == "hit" and record["workload_spec"]["higher_is_better"] is False


def test_unknown_workload_without_target_is_refused(tmp_path):
    write_trial(tmp_path / "logs", "external_tuning", "s", 0, "mystery", 0, [(0, 0.0, 0.1, 1.0)],
                meta={"gpu_model_name": "X"})
    with pytest.raises(RecordError, match="unknown AlgoPerf workload 'mystery'"):
        import_logs(tmp_path / "logs", tmp_path / "r")


def test_variants_are_recognised():
    assert base_workload("imagenet_resnet_large_bn_init") == "imagenet_resnet"
    assert base_workload("wmt_glu_tanh") == "wmt"
    assert base_workload("imagenet_resnet") is None


def test_cli_import(tmp_path):
    folder = write_trial(tmp_path / "logs", "external_tuning", "nadamw", 0, "mnist", 0,
                         [(0, 0.0, 0.1, 2.0), (500, 30.0, 0.975, 0.1)])
    assert folder.exists()
    result = CliRunner().invoke(main, ["import-algoperf", str(tmp_path / "logs"),
                                       "--results-dir", str(tmp_path / "r")])
    assert result.exit_code == 0 and "imported 1 trial" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["import-algoperf", str(empty)])
    assert result.exit_code == 2 and "no eval_measurements.csv" in result.output
