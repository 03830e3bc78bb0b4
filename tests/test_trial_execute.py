"""Nothing lost: harness failures are never the submission's, checkpoints are never deleted, bad
input is refused before training, one process trains a trial at a time."""

import errno
import json

import pytest

from bench import api
from bench.protocol import ProtocolSettings
from bench.submission import HparamsError, load_submission, resolve_hparams
from bench.trial import checkpoint, files
from bench.trial.execute import ResultsNotWritableError, TrialBusyError, trial_lock
from bench.trial.loop import TrialInterrupted
from bench.trial.record import RecordError, TrialId
from tests.conftest import TinyRegression, write_submission

STEPWISE = ProtocolSettings(max_steps=400, eval_every_steps=5, evaluate_test=False)
TRIAL = TrialId("single", "sgd", "tiny", 0, 0)


def interrupt_at(step):
    def on_progress(snapshot):
        if snapshot.event == "eval" and snapshot.step == step:
            raise KeyboardInterrupt
    return on_progress


def run(results, sgd_path, **kwargs):
    kwargs.setdefault("settings", STEPWISE)
    return api.run(TinyRegression(target=0.01), load_submission(sgd_path),
                   hparams=kwargs.pop("hparams", {"learning_rate": 0.05}), results_dir=results,
                   **kwargs)


def interrupted(results, sgd_path):
    """A trial interrupted at step 10: its checkpoint's path."""
    with pytest.raises(TrialInterrupted):
        run(results, sgd_path, on_progress=interrupt_at(10))
    path = TRIAL.checkpoint_path(results)
    assert path.exists() and not TRIAL.path(results).exists()
    return path


def test_a_damaged_checkpoint_is_set_aside_and_the_trial_runs(tmp_path, sgd_path):
    path = interrupted(tmp_path, sgd_path)
    path.write_bytes(path.read_bytes()[:40])  # truncated by a crash of the disk, say
    outcome = run(tmp_path, sgd_path)
    assert outcome.record["outcome"] == "hit" and outcome.resumed_from_step is None
    assert "cannot be read" in outcome.notes[0]
    assert len(list(tmp_path.rglob("trial_0.ckpt.replaced-*"))) == 1 and not path.exists()


def test_a_checkpoint_whose_state_does_not_fit_is_set_aside(tmp_path, sgd_path):
    path = interrupted(tmp_path, sgd_path)
    meta = checkpoint.read_meta(path)
    checkpoint.save(path, ({"w": [0.0]},), meta)  # readable bookkeeping, another state
    outcome = run(tmp_path, sgd_path)
    assert outcome.record["outcome"] == "hit" and outcome.record["resumed"] == 0
    assert "cannot be restored" in outcome.notes[0]


def test_a_rerun_with_another_budget_keeps_the_old_checkpoint(tmp_path, sgd_path):
    interrupted(tmp_path, sgd_path)
    other = ProtocolSettings(max_steps=400, eval_every_steps=5, evaluate_test=False,
                             max_runtime=7.0)
    outcome = run(tmp_path, sgd_path, settings=other)
    assert outcome.record["outcome"] == "hit"
    assert "other protocol settings (max_runtime 30.0 -> 7.0)" in outcome.notes[0]
    kept = list(tmp_path.rglob("trial_0.ckpt.replaced-*"))
    assert len(kept) == 1 and checkpoint.read_meta(kept[0])["step"] == 10


def test_resumption_is_announced(tmp_path, sgd_path):
    interrupted(tmp_path, sgd_path)
    events = []
    outcome = run(tmp_path, sgd_path, on_progress=lambda p: events.append((p.event, p.step)))
    assert outcome.resumed_from_step == 10 and ("resumed", 10) in events


def test_a_checkpoint_that_cannot_be_written_is_not_the_submissions_failure(
        tmp_path, sgd_path, monkeypatch):
    path = interrupted(tmp_path, sgd_path)
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "write_atomically", full_disk)
    with pytest.raises(files.HarnessError, match="No space left"):
        run(tmp_path, sgd_path, checkpoint_every=1e-9)
    assert not TRIAL.path(tmp_path).exists() and path.read_bytes() == before


def test_a_record_that_cannot_be_written_keeps_the_checkpoint(tmp_path, sgd_path, monkeypatch):
    path = interrupted(tmp_path, sgd_path)
    from bench.trial import execute

    def refuse(*args):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(execute, "write_record", refuse)
    with pytest.raises(files.HarnessError, match="checkpoint is kept"):
        run(tmp_path, sgd_path)
    assert path.exists() and not TRIAL.path(tmp_path).exists()


def test_an_unwritable_results_directory_is_found_before_training(tmp_path, sgd_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    events = []
    with pytest.raises(ResultsNotWritableError, match="cannot write trial records"):
        run(blocker / "results", sgd_path, on_progress=events.append)
    assert events == []


@pytest.mark.parametrize("value, message", [
    ("abc", "learning_rate='abc' is a string, but submission sgd expects a number"),
    (True, "learning_rate=True is a boolean"),
])
def test_hyperparameters_of_the_wrong_kind_are_refused_before_training(
        tmp_path, sgd_path, value, message):
    with pytest.raises(HparamsError, match=message):
        run(tmp_path, sgd_path, hparams={"learning_rate": value})
    assert not list(tmp_path.rglob("trial_*"))
    submission = load_submission(sgd_path)
    assert resolve_hparams(submission, {"learning_rate": 1})["learning_rate"] == 1


def test_a_null_default_takes_the_kinds_of_its_search_space(tmp_path):
    from tests.conftest import write_submission

    path = write_submission(tmp_path, '''
        import optax
        DEFAULT_HPARAMS = {"learning_rate": 0.1, "schedule": None}
        def make_optimizer(hparams, info):
            return optax.sgd(hparams["learning_rate"])
        ''', name="nullable")
    (path.parent / "search_space.json").write_text(json.dumps(
        {"schedule": {"feasible_points": ["cosine", "linear"]}}))
    submission = load_submission(path)
    assert resolve_hparams(submission, {"schedule": "cosine"})["schedule"] == "cosine"
    with pytest.raises(HparamsError, match="expects a null or string"):
        resolve_hparams(submission, {"schedule": 3})


def test_a_locked_trial_is_not_trained_twice(tmp_path, sgd_path):
    with trial_lock(TRIAL.lock_path(tmp_path), wait=False):
        with pytest.raises(TrialBusyError, match="another process is training this trial"):
            run(tmp_path, sgd_path)
    assert not TRIAL.path(tmp_path).exists()
    assert run(tmp_path, sgd_path).record["outcome"] == "hit"  # the lock is free again


def test_force_sets_a_corrupt_record_aside(tmp_path, sgd_path):
    path = TRIAL.path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{")
    with pytest.raises(RecordError, match="cannot be read"):
        run(tmp_path, sgd_path)
    outcome = run(tmp_path, sgd_path, force=True)
    assert outcome.record["outcome"] == "hit" and "record set aside" in outcome.notes[0]
    assert list(path.parent.glob("trial_0.json.replaced-*"))[0].read_text() == "{"


FORGING_SUBMISSION = '''
"""SGD whose make_optimizer writes a record of its own making at the trial's slot."""
import shutil
import optax

DEFAULT_HPARAMS = {"learning_rate": 0.05, "forge_from": "", "forge_to": ""}

def make_optimizer(hparams, workload_info):
    if hparams["forge_to"]:
        shutil.copyfile(hparams["forge_from"], hparams["forge_to"])
    return optax.sgd(hparams["learning_rate"])
'''


def test_a_record_forged_during_the_trial_is_set_aside_not_taken(tmp_path):
    submission = load_submission(write_submission(tmp_path, FORGING_SUBMISSION, name="forger"))
    trial = TrialId("single", "forger", "tiny", 0, 0)
    genuine = api.run(TinyRegression(target=0.01), submission, results_dir=tmp_path / "first",
                      settings=STEPWISE).record
    forged = dict(genuine, time_to_target=1e-6, steps_to_target=1, message="forged")
    forgery = tmp_path / "forgery.json"
    forgery.write_text(json.dumps(forged))
    results = tmp_path / "results"
    point = {"forge_from": str(forgery), "forge_to": str(trial.path(results))}
    outcome = api.run(TinyRegression(target=0.01), submission, hparams=point,
                      results_dir=results, settings=STEPWISE)
    own = json.loads(trial.path(results).read_text())
    assert own["outcome"] == "hit" and own["time_to_target"] == outcome.record["time_to_target"]
    assert own["time_to_target"] != 1e-6 and own["steps_to_target"] == genuine["steps_to_target"]
    (kept,) = trial.path(results).parent.glob("trial_0.json.replaced-*")
    assert json.loads(kept.read_text()) == forged  # kept for whoever audits it
    assert "appeared" in outcome.notes[-1] and kept.name in outcome.notes[-1]
    assert not trial.checkpoint_path(results).exists()


def test_records_that_keep_appearing_fail_the_harness_and_keep_the_checkpoint(
        tmp_path, sgd_path, monkeypatch):
    path = interrupted(tmp_path, sgd_path)
    from bench.trial import execute

    def someone_else_writes_first(record_path, record):
        record_path.write_text('{"forged": true}')
        raise FileExistsError(record_path)

    monkeypatch.setattr(execute, "write_record", someone_else_writes_first)
    with pytest.raises(files.HarnessError, match="keep appearing"):
        run(tmp_path, sgd_path)
    assert path.exists() and not TRIAL.path(tmp_path).exists()  # a rerun resumes, none taken
    assert len(list(tmp_path.rglob("trial_0.json.replaced-*"))) == 2
