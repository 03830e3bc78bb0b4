"""Importing AlgoPerf logs built in its documented layout, then scoring them."""

import csv
import json

import pytest
from click.testing import CliRunner

from bench import scoring
from bench.algoperf_import import import_logs
from bench.cli import main
from bench.trial.record import load_records
from bench.rules import RulesError

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
    written = import_logs(logs, tmp_path / "results").written
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
    again = import_logs(logs, tmp_path / "results")
    assert again.written == [] and again.kept == 3


def test_targets_come_from_the_rules_not_the_meta_data(tmp_path):
    logs = tmp_path / "logs"
    # criteo1tb: loss, lower is better, v0.5 target 0.123735; the log's meta data says otherwise
    meta = {"workload.target_metric_name": "loss", "workload.validation_target_value": 0.2,
            "gpu_model_name": "X", "gpu_count": 1}
    write_trial(logs, "self_tuning", "mine", 2, "criteo1tb", 0,
                [(0, 0.0, 0.1, 0.5), (10, 5.0, 0.2, 0.15), (20, 9.0, 0.2, 0.1237)], meta=meta)
    result = import_logs(logs, tmp_path / "r", rules="algoperf-v0.5")
    record = json.loads(result.written[0].read_text())
    assert record["ruleset"] == "self" and record["study"] == 2 and record["rules"] == "algoperf-v0.5"
    assert record["outcome"] == "hit" and record["time_to_target"] == 9.0
    assert record["evals_to_target"] == 3 and record["workload_spec"]["higher_is_better"] is False


def test_only_workload_framework_folders_are_trials(tmp_path):
    logs = tmp_path / "logs"
    rows = [(0, 0.0, 0.1, 1.0), (10, 5.0, 0.9, 0.5)]
    write_trial(logs, "external_tuning", "s", 0, "ogbg", 1, rows)
    write_trial(logs, "external_tuning", "s", 0, "mystery", 1, rows)  # not a workload of v0.5
    rerun = logs / "external_tuning" / "s" / "study_1" / "trial_1"  # a rerun without its workload
    rerun.mkdir(parents=True)
    (rerun / "eval_measurements.csv").write_text("global_step,accumulated_submission_time\n0,0\n")
    result = import_logs(logs, tmp_path / "r", rules="algoperf-v0.5")
    assert [p.parent.parent.name for p in result.written] == ["ogbg"]
    assert len(result.skipped) == 2
    assert any("mystery_jax" in line for line in result.skipped)
    assert any(line.startswith("external_tuning/s/study_1/trial_1:") for line in result.skipped)


def test_hparams_differing_between_trials_raise_no_changed_source_warning(tmp_path):
    logs = tmp_path / "logs"
    for trial in (1, 2, 3):  # write_trial gives each trial another learning rate
        write_trial(logs, "external_tuning", "s", 0, "ogbg", trial, [(10, 5.0 * trial, 0.9, 0.5)])
    import_logs(logs, tmp_path / "r", rules="algoperf-v0.6")
    records = load_records([tmp_path / "r"])[0]
    assert len({r["submission_sha256"] for r in records}) == 1
    board = scoring.score(records, bootstrap_samples=0)
    assert not any("source files" in w for w in board.warnings)


def test_cpu_rules_cannot_import_algoperf_logs(tmp_path):
    write_trial(tmp_path / "logs", "external_tuning", "s", 0, "ogbg", 0, [(0, 0.0, 0.1, 1.0)])
    with pytest.raises(RulesError, match="no AlgoPerf workloads|define no"):
        import_logs(tmp_path / "logs", tmp_path / "r", rules="cpu-v1")


def test_cli_import(tmp_path):
    write_trial(tmp_path / "logs", "external_tuning", "nadamw", 0, "ogbg", 0,
                [(0, 0.0, 0.1, 2.0), (500, 30.0, 0.975, 0.1)])
    write_trial(tmp_path / "logs", "external_tuning", "nadamw", 0, "mnist", 0,
                [(0, 0.0, 0.1, 2.0)])
    result = CliRunner().invoke(main, ["import-algoperf", str(tmp_path / "logs"), "--rules",
                                       "algoperf-v0.5", "--results-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "imported 1 trial(s)" in result.output and "under algoperf-v0.5" in result.output
    assert "skipped external_tuning/nadamw/study_0/mnist_jax/trial_0" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["import-algoperf", str(empty)])
    assert result.exit_code == 2 and "no eval_measurements.csv" in result.output
