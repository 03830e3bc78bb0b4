"""`bench ci` on a valid and an invalid contribution, ranked against a reference leaderboard."""

import dataclasses
import json

from click.testing import CliRunner

from bench import reporting, scoring
from bench.cli import main
from bench.trial.record import load_records
from tests.conftest import SGD_SUBMISSION, write_submission


def make_reference(tmp_path, *options: str):
    """A reference leaderboard from a real (tiny) nadamw run on mnist1d_mlp."""
    runner = CliRunner()
    result = runner.invoke(main, ["run", "-w", "mnist1d_mlp", "-s", "nadamw", "--max-steps",
                                  "30", "--eval-period", "1000", "--results-dir",
                                  str(tmp_path / "ref-runs"), *options])
    assert result.exit_code == 0, result.output
    records, _ = load_records([tmp_path / "ref-runs"])
    # pretend it ran under the self-tuning ruleset
    records = [dataclasses.replace(record, ruleset="self") for record in records]
    board = scoring.score(records, bootstrap_samples=0)
    reporting.write_leaderboard(board, tmp_path / "reference" / "self", records)
    return tmp_path / "reference"


def ci_report(tmp_path, reference, *options: str) -> str:
    """`bench ci` of a plain SGD submission on mnist1d_mlp against `reference`: its report."""
    path = write_submission(tmp_path, SGD_SUBMISSION)
    report = tmp_path / "report.md"
    result = CliRunner().invoke(main, [
        "ci", str(path), "-w", "mnist1d_mlp", "--reference", str(reference),
        "--results-dir", str(tmp_path / "ci"), "--report", str(report), "--max-runtime", "0.5",
        *options,
    ])
    assert result.exit_code == 0, result.output
    return report.read_text()


def test_valid_submission_is_studied_and_ranked(tmp_path):
    reference = make_reference(tmp_path)
    text = ci_report(tmp_path, reference)
    assert "| import | pass |" in text and "### Study (self tuning, 1 study)" in text
    assert "**sgd** (this PR)" in text and "| nadamw |" in text
    data = json.loads((reference / "self" / "leaderboard.json").read_text())
    assert data["studies"]["nadamw"]["mnist1d_mlp"]["steps"] == [None]  # 30 steps: a miss


def test_invalid_submission_fails_with_report(tmp_path):
    path = write_submission(tmp_path, "DEFAULT_HPARAMS = {}\n", name="broken")
    report = tmp_path / "report.md"
    result = CliRunner().invoke(main, ["ci", str(path), "--report", str(report)])
    assert result.exit_code == 1
    assert "**FAIL**" in report.read_text() and "make_optimizer" in report.read_text()


def test_a_reference_of_other_rules_is_not_ranked_against(tmp_path):
    reference = make_reference(tmp_path)
    board = reference / "self" / "leaderboard.json"
    data = json.loads(board.read_text())
    assert data["rules"] == "cpu-v3"  # the trials' rules (the cpu tier's default), by bench score
    del data["rules"]  # a leaderboard from before the field: cpu-v1's
    board.write_text(json.dumps(data))
    text = ci_report(tmp_path, reference, "--rules", "cpu-v2")
    assert "scored under rules cpu-v1, these trials ran under cpu-v2" in text
    assert "### Against the reference leaderboard" not in text


def test_trials_run_under_the_reference_leaderboards_rules_unless_told(tmp_path):
    from bench.ci import reference_rules

    reference = make_reference(tmp_path, "--rules", "cpu-v1")
    assert reference_rules(reference, "self") == "cpu-v1"
    assert reference_rules(reference, "external") is None  # no such leaderboard
    text = ci_report(tmp_path, reference)  # not the default rules (cpu-v3), the reference's
    assert "### Against the reference leaderboard" in text and "scored under rules" not in text
    records, _ = load_records([tmp_path / "ci"])
    assert {record.rules for record in records} == {"cpu-v1"}


def test_times_compare_across_machines_only_under_a_clock_in_reference_seconds():
    from bench.ci import compared_by

    assert compared_by("cpu-v3", "aaaa", ["bbbb"]) == "time"
    assert compared_by("cpu-v2", "aaaa", ["bbbb"]) == "steps"
    assert compared_by("cpu-v2", "aaaa", ["bbbb", "aaaa"]) == "time"


def test_a_reference_measured_on_other_workload_definitions_is_not_ranked_against(tmp_path):
    reference = make_reference(tmp_path)
    board = reference / "self" / "leaderboard.json"
    data = json.loads(board.read_text())
    records, _ = load_records([tmp_path / "ref-runs"])
    assert data["definitions"] == {"mnist1d_mlp": [records[0].workload_sha256]}
    data["definitions"]["mnist1d_mlp"] = ["0" * 64]  # as if the model had changed since
    board.write_text(json.dumps(data))
    text = ci_report(tmp_path, reference)
    assert "measured on other definitions of mnist1d_mlp" in text
    assert "### Against the reference leaderboard" not in text


def test_a_reference_that_does_not_name_its_definitions_is_ranked_with_a_caveat(tmp_path):
    reference = make_reference(tmp_path)
    board = reference / "self" / "leaderboard.json"
    data = json.loads(board.read_text())
    del data["definitions"]  # a leaderboard scored before the field
    board.write_text(json.dumps(data))
    text = ci_report(tmp_path, reference)
    assert "does not say which workload definitions" in text
    assert "### Against the reference leaderboard" in text


def test_changed_definitions_names_the_workloads_whose_hashes_differ():
    from bench.ci import changed_definitions

    theirs = {"a": ["1"], "b": ["2"], "c": ["3"]}
    assert changed_definitions(theirs, {"a": ["1"], "b": ["9"], "d": ["4"]}) == ["b"]
    assert changed_definitions(None, {"a": ["9"]}) == []
