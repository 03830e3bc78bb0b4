"""Hostile submissions (tests/hostile/): each attack is caught or earns only what it trains.

Every trial runs as contributed code runs: described from a child process, trained in an
isolated process, on the tiny test workload (`tests.conftest:TINY`, validation loss <= 0.05).
"""

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench import api, ci, registry, trust
from bench.check import setup_result
from bench.cli import main
from bench.describe import describe_submission
from bench.protocol import ProtocolSettings
from tests.conftest import SGD_SUBMISSION, write_submission

HOSTILE = Path(__file__).parent / "hostile"
SETTINGS = ProtocolSettings(max_runtime=10.0, max_steps=300, evaluate_test=False)


def trial(source: Path, results: Path, **settings) -> dict:
    """One isolated trial of the submission at `source` on TINY; its record."""
    submission = describe_submission(source)
    workload = registry.get_workload("tests.conftest:TINY")
    settings = ProtocolSettings(**{**vars(SETTINGS), **settings})
    return api.run_in_own_process(workload, submission, results_dir=results,
                                  settings=settings).record


@pytest.mark.parametrize("name, changed", [
    ("patch_target", "Workload.target_reached"),
    ("patch_clock", "SubmissionClock.stop"),
    ("lower_target", "spec"),
    ("threads", "threads"),
])
def test_patching_the_harness_is_recorded_as_tampered(tmp_path, name, changed):
    record = trial(HOSTILE / name, tmp_path)
    assert record["outcome"] == "tampered" and changed in record["message"]
    assert record["time_to_target"] is None
    vouched = trust.vouch([record])
    assert not vouched.accepted and "tampered" in str(vouched.refused[0])


def test_forged_records_are_set_aside_and_only_the_harness_record_counts(tmp_path):
    submission = describe_submission(HOSTILE / "forged_records")
    workloads = [registry.get_workload("tests.conftest:TINY")]
    ledger = ci.run_trials(submission, workloads, ruleset="self", studies=1, trials=None,
                           results_dir=tmp_path, settings=SETTINGS, trial_timeout=None,
                           total_timeout=300)
    records = ledger.audit(tmp_path)
    forged = [path for path, _ in ledger.foreign]
    assert any(path.name.startswith("trial_1.json") for path in forged)  # dropped at import
    assert all(r["outcome"] != "hit" for r in records)  # SGD at 1e-6 earns a miss, nothing more
    assert not any(r["time_to_target"] == 0.01 for r in records)


def test_ci_reports_forged_records_and_fails(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = ci.run_ci(HOSTILE / "forged_records", workloads=["tests.conftest:TINY"],
                       results_dir=tmp_path / "ci", settings=SETTINGS, reference_dir=tmp_path)
    assert not result.valid and "| records | **FAIL** |" in result.report


def test_training_in_make_optimizer_is_counted_and_flagged(tmp_path):
    record = trial(HOSTILE / "train_in_make_optimizer", tmp_path)
    assert record["setup_time"]["make_optimizer"] >= 1.5
    assert record["outcome"] == "hit" and record["time_to_target"] >= 1.5
    assert not setup_result(record, plain_seconds=0.01).ok


def test_sleeping_before_the_clock_is_counted(tmp_path):
    honest = trial(write_submission(tmp_path, SGD_SUBMISSION), tmp_path / "honest")
    record = trial(HOSTILE / "sleeper", tmp_path / "sleeper")
    assert record["setup_time"]["import"] >= 1.0 and record["setup_time"]["make_optimizer"] >= 1.0
    assert record["outcome"] == honest["outcome"] == "hit"
    assert record["time_to_target"] >= 2.0 + 0.5 * honest["time_to_target"]


def test_a_step_zero_hit_is_an_error_not_a_time_of_zero(tmp_path):
    record = trial(HOSTILE / "step_zero_eval", tmp_path)
    assert record["outcome"] == "error" and "step-0 evaluation" in record["message"]
    assert record["time_to_target"] is None


def test_exit_at_import_fails_loudly(tmp_path):
    result = CliRunner().invoke(main, ["run", "-w", "tests.conftest:TINY", "-s",
                                       str(HOSTILE / "exit_at_import"), "--results-dir",
                                       str(tmp_path)])
    assert result.exit_code == 2 and "exited with code 0 before describing it" in result.output
    report = ci.run_ci(HOSTILE / "exit_at_import", results_dir=tmp_path / "ci").report
    assert "**FAIL**" in report and "exited with code 0" in report


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie is dead, only not yet reaped


def test_a_forked_grandchild_does_not_outlive_its_trial(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    monkeypatch.setenv("HOSTILE_MARKER", str(marker))
    record = trial(HOSTILE / "forked_grandchild", tmp_path / "r", max_steps=20)
    assert record["outcome"] in ("hit", "budget")
    pid = int(Path(f"{marker}.pid").read_text())
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert not alive(pid)
        assert len(marker.read_text()) < 300  # stopped before its 30 s of writing ended
    finally:
        if alive(pid):  # never leave it behind
            os.kill(pid, 9)
