"""Records: written atomically, never overwritten, re-runs skipped, conflicts refused."""

import json
import os

import pytest

from bench import api
from bench.protocol import ProtocolSettings
from bench.trial.record import RecordError, load_records, read_record, write_record
from bench.submission import load_submission
from tests.conftest import TinyRegression
from tests.test_trial_record import complete_record

QUICK = ProtocolSettings(max_steps=5, eval_period=1e6)


def test_record_holds_what_scoring_and_audit_need(tmp_path, sgd_path):
    outcome = api.run(TinyRegression(), load_submission(sgd_path), results_dir=tmp_path,
                      settings=QUICK, seed=3, study=1, trial=2)
    assert not outcome.skipped
    assert outcome.path == tmp_path / "single" / "sgd" / "tiny" / "study_1" / "trial_2.json"
    record = json.loads(outcome.path.read_text())
    assert record["outcome"] == "budget" and record["steps"] == 5
    assert record["seed"] == 3 and record["hparams"] == {"learning_rate": 0.1}
    assert record["compile_time_counted"] is False and record["compile_time"] > 0
    assert len(record["submission_sha256"]) == 64
    assert len(record["hardware"]["fingerprint"]) == 12
    assert {"jax", "optax", "flax"} <= set(record["versions"])
    assert "git_commit" in record
    assert record["workload_spec"]["name"] == "tiny"
    assert [row["step"] for row in record["evals"]] == [0, 5]


def test_rerun_is_skipped_and_other_hparams_conflict(tmp_path, sgd_path):
    submission = load_submission(sgd_path)
    first = api.run(TinyRegression(), submission, results_dir=tmp_path, settings=QUICK)
    again = api.run(TinyRegression(), submission, results_dir=tmp_path, settings=QUICK)
    assert again.skipped and again.record == first.record
    with pytest.raises(api.TrialConflictError, match="--force"):
        api.run(TinyRegression(), submission, hparams={"learning_rate": 0.2},
                results_dir=tmp_path, settings=QUICK)
    with pytest.raises(api.TrialConflictError):
        api.run(TinyRegression(), submission, seed=1, results_dir=tmp_path, settings=QUICK)


def test_force_sets_the_old_record_aside(tmp_path, sgd_path):
    submission = load_submission(sgd_path)
    first = api.run(TinyRegression(), submission, results_dir=tmp_path, settings=QUICK)
    second = api.run(TinyRegression(), submission, hparams={"learning_rate": 0.2},
                     results_dir=tmp_path, settings=QUICK, force=True)
    assert second.record["hparams"]["learning_rate"] == 0.2
    kept = list(first.path.parent.glob("trial_0.json.replaced-*"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["hparams"]["learning_rate"] == 0.1
    assert len(load_records([tmp_path])[0]) == 1  # the set-aside copy is not scored


def test_write_record_never_overwrites_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "a" / "trial_0.json"
    write_record(path, complete_record(n=1))
    with pytest.raises(FileExistsError):
        write_record(path, complete_record(n=2))
    assert read_record(path)["n"] == 1
    assert os.listdir(path.parent) == ["trial_0.json"]


def test_corrupt_record_is_reported_by_name(tmp_path):
    path = tmp_path / "single" / "x" / "w" / "study_0" / "trial_0.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"outcome": "hit", "steps"')  # truncated
    with pytest.raises(RecordError, match="trial_0.json"):
        load_records([tmp_path])
    path.write_text('{"steps": 3}')  # not a record of this schema
    with pytest.raises(RecordError, match="has no schema_version"):
        read_record(path)
