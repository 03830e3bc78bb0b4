"""Vouching for records: stale definitions and tampered trials are refused before scoring."""

from click.testing import CliRunner

from bench import registry, trust
from bench.cli import main
from bench.trial.hashes import workload_sha256
from bench.trial.record import SCHEMA_VERSION, Record, TrialId, write_record


def current_record(submission="A", time=1.0, workload="mnist1d_mlp", **changes):
    """A record that matches this checkout's definition of `workload`, hit at its second
    evaluation."""
    spec = registry.get_workload(workload).spec
    key = f"validation/{spec.target_metric}"
    evals = [{"step": 0, "submission_time": 0.0, key: 0.0},
             {"step": int(time * 100), "submission_time": time, key: 1.0}]
    record = {
        "schema_version": SCHEMA_VERSION, "rules": "cpu-v2", "ruleset": "external",
        "submission": submission,
        "workload": workload, "study": 0, "trial": 0, "outcome": "hit", "message": "",
        "time_to_target": time, "steps_to_target": int(time * 100),
        "hardware": {"fingerprint": "m1"}, "submission_sha256": submission,
        "workload_spec": spec.to_dict(), "evals": evals, "seed": 0, "hparams": {},
        "batch_size": spec.batch_size, "protocol": {}, "steps": int(time * 100),
        "submission_time": time, "eval_time": 0.0, "compile_time": 0.0,
        "compile_time_counted": False, "wall_time": time, "train_curve": {},
        "submission_path": None, "versions": {}, "git_commit": None,
        "workload_sha256": workload_sha256(registry.get_workload(workload)),
    }
    record.update(changes)
    return record


def lowered_target(record):
    spec = dict(record["workload_spec"], validation_target=0.2)
    return {**record, "workload_spec": spec}


def test_a_current_record_is_accepted():
    vouched = trust.vouch([current_record()])
    assert len(vouched.accepted) == 1 and not vouched.refused and not vouched.stale


def test_each_stale_field_is_named():
    record = lowered_target(current_record(schema_version=0, workload_sha256="x"))
    (refusal,) = trust.vouch([record]).refused
    text = str(refusal)
    assert "validation_target 0.2" in text and "schema version 0" in text
    assert "workload hash" in text and text.startswith("external/A/mnist1d_mlp/study_0/trial_0")


def test_allowed_stale_records_are_marked():
    vouched = trust.vouch([lowered_target(current_record())], allow_stale=True)
    (accepted,) = vouched.accepted
    assert accepted["stale"] and not vouched.refused and len(vouched.stale) == 1


def test_tampered_records_are_refused_even_when_stale_ones_are_allowed():
    vouched = trust.vouch([current_record(outcome="tampered", message="clock changed")],
                          allow_stale=True)
    assert not vouched.accepted and "clock changed" in str(vouched.refused[0])


def test_unknown_workloads_and_imports_pass_unchecked():
    vouched = trust.vouch([current_record(workload_sha256="other", imported_from="logs/x"),
                           {"workload": "w1", "outcome": "hit"}])
    assert len(vouched.accepted) == 2 and vouched.unchecked == ["w1"]


def test_score_command_refuses_stale_records_unless_allowed(tmp_path):
    good = current_record("A", 1.0)
    stale = lowered_target(current_record("B", 0.01))
    for record in (good, stale):
        write_record(TrialId("external", record["submission"], "mnist1d_mlp").path(tmp_path),
                     Record.from_dict(record))
    result = CliRunner().invoke(main, ["score", str(tmp_path), "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert "refused external/B/mnist1d_mlp" in result.output and "--allow-stale" in result.output
    assert "│ B" not in result.output
    result = CliRunner().invoke(main, ["score", str(tmp_path), "--bootstrap", "0",
                                       "--allow-stale", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "1 stale record(s) included" in (tmp_path / "out" / "leaderboard.md").read_text()


def test_hits_that_do_not_follow_from_their_curve_are_refused():
    record = current_record()
    no_curve = {**record, "evals": []}
    faster = {**record, "time_to_target": 0.01}
    at_zero = {**record, "evals": [{**record["evals"][1], "step": 0, "submission_time": 0.0}],
               "time_to_target": 0.0, "steps_to_target": 0}
    vouched = trust.vouch([no_curve, faster, at_zero], allow_stale=True)
    reasons = [str(refusal) for refusal in vouched.refused]
    assert not vouched.accepted and len(reasons) == 3
    assert "none of its evaluations" in reasons[0] and "not those of its first" in reasons[1]
    assert "step 0" in reasons[2]
