"""Hostile submissions in isolated trial processes: each failure is a record, the study goes on."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bench import registry, tuning
from bench.protocol import ProtocolSettings
from bench.submission import load_submission
from bench.trial import backends
from bench.trial.execute import trial_lock
from bench.trial.record import TrialId
from tests.conftest import TINY, write_submission

QUICK = ProtocolSettings(max_steps=5, eval_period=1e6, evaluate_test=False)
LONG = ProtocolSettings(max_runtime=1e6, max_steps=10**9, eval_period=1e6, evaluate_test=False)

HOSTILE = '''
"""Misbehaves according to its `mode` hyperparameter."""
import os, signal, time
import jax.numpy as jnp
import optax

DEFAULT_HPARAMS = {"mode": "fine", "learning_rate": 0.1, "pid_file": ""}

def make_optimizer(hparams, workload_info):
    mode = hparams["mode"]
    if mode == "fork":  # a grandchild that would go on after the trial
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        with open(hparams["pid_file"], "w") as handle:
            handle.write(str(pid))
    if mode == "hang":
        while True:
            time.sleep(0.1)
    if mode == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "raise":
        raise MemoryError("pretend we ran out of memory")
    if mode == "nan":
        return optax.scale(jnp.nan)
    return optax.sgd(hparams["learning_rate"])
'''


def hostile(tmp_path):
    path = write_submission(tmp_path, HOSTILE, name="hostile")
    (path.parent / "search_space.json").write_text(json.dumps(
        {"mode": {"feasible_points": ["fine", "crash", "raise", "nan"]}}
    ))
    return load_submission(path)


def test_workload_reference_round_trips():
    assert registry.workload_reference(TINY) == "tests.conftest:TINY"
    assert registry.get_workload("tests.conftest:TINY") is TINY
    assert registry.workload_reference(registry.get_workload("mnist1d")) == "mnist1d"


def request(submission, results, settings=QUICK, **hparams):
    point = {**submission.default_hparams, **hparams}
    return backends.TrialRequest(TINY, submission, point, TrialId("single", "hostile", "tiny"),
                                 results_dir=results, settings=settings, checkpoint_every=0.2)


def test_hang_is_stopped_at_the_time_limit(tmp_path):
    outcome = backends.run_isolated(request(hostile(tmp_path), tmp_path / "r", mode="hang"),
                                    time_limit=15)
    assert outcome.record["outcome"] == "error"
    assert "exceeded its time limit of 15s" in outcome.record["message"]
    assert outcome.path.exists()


def test_study_goes_on_past_crashes(tmp_path):
    submission = hostile(tmp_path)
    outcomes = tuning.run_study(
        submission, [TINY], ruleset="external", studies=1, trials=4,
        results_dir=str(tmp_path / "r"), settings=QUICK, isolate=True, jobs=2,
    )
    by_mode = {o.record["hparams"]["mode"]: o.record for o in outcomes}
    assert set(by_mode) == {"fine", "crash", "raise", "nan"}
    assert by_mode["fine"]["outcome"] == "budget"
    assert by_mode["crash"]["outcome"] == "error"
    assert "killed by SIGKILL" in by_mode["crash"]["message"]
    assert by_mode["raise"]["outcome"] == "error" and "MemoryError" in by_mode["raise"]["message"]
    assert by_mode["nan"]["outcome"] == "diverged"
    records = list((tmp_path / "r").rglob("trial_*.json"))
    assert len(records) == 4


def test_interrupted_isolated_trial_leaves_a_checkpoint_not_a_record(tmp_path):
    """A trial process stopped by SIGTERM checkpoints and is not recorded as an error."""
    import threading

    from bench.trial.checkpoint import checkpoint_path

    results = tmp_path / "r"
    record = results / "single" / "hostile" / "tiny" / "study_0" / "trial_0.json"
    ckpt = checkpoint_path(record)
    submission = hostile(tmp_path)

    def terminate_child_when_checkpointed():
        deadline = time.time() + 120
        while not ckpt.exists() and time.time() < deadline:
            time.sleep(0.05)
        import multiprocessing

        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGTERM)

    watcher = threading.Thread(target=terminate_child_when_checkpointed)
    watcher.start()
    with pytest.raises(KeyboardInterrupt, match="resumes on the next run"):
        backends.run_isolated(request(submission, results, LONG), time_limit=120)
    watcher.join()
    assert ckpt.exists() and not record.exists()


def test_a_forked_grandchild_does_not_outlive_its_trial(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    outcome = backends.run_isolated(request(hostile(tmp_path), tmp_path / "r", mode="fork",
                                            pid_file=str(pid_file)), time_limit=120)
    assert outcome.record["outcome"] == "budget"
    pid = int(pid_file.read_text())
    deadline = time.time() + 10
    while time.time() < deadline and _alive(pid):
        time.sleep(0.1)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has stopped; its reaper has not collected it yet


PARENT = """
import sys
from bench.protocol import ProtocolSettings
from bench.submission import load_submission
from bench.trial import backends
from bench.trial.record import TrialId
from tests.conftest import TINY
submission = load_submission(sys.argv[1])
settings = ProtocolSettings(max_runtime=1e6, max_steps=10**9, eval_period=1e6,
                            evaluate_test=False)
backends.run_isolated(backends.TrialRequest(
    TINY, submission, dict(submission.default_hparams), TrialId("single", "hostile", "tiny"),
    results_dir=sys.argv[2], settings=settings, checkpoint_every=0.2), time_limit=600)
"""


def test_the_trial_process_stops_and_checkpoints_when_its_parent_dies(tmp_path):
    submission = hostile(tmp_path)
    results = tmp_path / "r"
    trial = TrialId("single", "hostile", "tiny")
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(submission.path), str(results)],
                              cwd=os.path.dirname(os.path.dirname(__file__)))
    deadline = time.time() + 120
    while not trial.checkpoint_path(results).exists() and time.time() < deadline:
        time.sleep(0.05)
    assert trial.checkpoint_path(results).exists(), "no checkpoint appeared"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 30  # the orphan must let go of the trial's lock: it stopped
    while time.time() < deadline:
        try:
            with trial_lock(trial.lock_path(results), wait=False):
                break
        except backends.TrialBusyError:
            time.sleep(0.1)
    else:
        pytest.fail("the trial process went on after its parent died")
    assert trial.checkpoint_path(results).exists() and not trial.path(results).exists()


def test_check_import_reads_its_answer_whatever_the_submission_prints(tmp_path):
    from bench.check import check_import

    path = write_submission(tmp_path, '''
        """Prints at import and at exit."""
        import atexit
        import optax
        print("hello from the submission")
        atexit.register(lambda: print("goodbye"))
        DEFAULT_HPARAMS = {"learning_rate": 0.1}
        def make_optimizer(hparams, workload_info):
            return optax.sgd(hparams["learning_rate"])
        ''', name="chatty")
    result, _ = check_import(path)
    assert result.ok, result.detail
    assert "1 hyperparameters" in result.detail
