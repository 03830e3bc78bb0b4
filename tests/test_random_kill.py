"""Kill a real `bench study` at random points: nothing finished is lost, nothing unfinished is
lost, no trial is ever trained by two processes at once (`make test-kill`, about 2-4 minutes).

Each round starts the study (3 trials of 8 s in isolated processes, checkpoints every 0.3 s), waits a
random time and SIGKILLs either the study process or the running trial process; after killing a
trial process the study (which starts it again once) is killed too, later. 20 kills in all, then
one last run finishes the study. The submission detects overlapping trainers on its own: each
trial process takes an `flock` on a file of its own hyperparameters for as long as it lives (the
kernel drops it when the process dies) and writes `overlap` when that lock is already held.
"""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.trial.record import TrialId

pytestmark = pytest.mark.kill

ROOT = Path(__file__).resolve().parents[1]
KILLS = 20
LEARNING_RATES = (1e-6, 2e-6, 3e-6)

WATCHED = '''
"""SGD that reports a second process training its trial at the same time."""
import fcntl
import os
from pathlib import Path

import optax

DEFAULT_HPARAMS = {"learning_rate": 1e-6}
HELD = []

def make_optimizer(hparams, workload_info):
    folder = Path(os.environ["BENCH_KILL_TEST_DIR"])
    handle = open(folder / f"training-{hparams['learning_rate']}", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        (folder / "overlap").write_text(str(hparams["learning_rate"]))
    HELD.append(handle)  # held until this process ends
    return optax.sgd(hparams["learning_rate"])
'''


WORKLOAD = "mnist1d_mlp"  # about 1 ms a step: a trial is thousands of steps
BUDGET = 8.0  # seconds of submission time per trial


def trial_ids():
    return [TrialId("external", "watched", WORKLOAD, 0, n) for n in range(len(LEARNING_RATES))]


def start_study(tmp_path: Path, submission: Path) -> subprocess.Popen:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT),
               BENCH_KILL_TEST_DIR=str(tmp_path))
    command = [sys.executable, "-m", "bench.cli", "study", "-s", str(submission),
               "-w", WORKLOAD, "--ruleset", "external", "--studies", "1",
               "--trials", str(len(LEARNING_RATES)), "--max-runtime", str(BUDGET),
               "--checkpoint-every", "0.3",
               "--results-dir", str(tmp_path / "r")]
    log = open(tmp_path / "study.log", "a")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log,
                            start_new_session=True)


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def trial_process(study: subprocess.Popen) -> int | None:
    """The study's running trial process (a spawn child that is not a helper)."""
    for pid in children(study.pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            return pid
    return None


def wait_gone(pids, seconds: float = 60.0) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and any(Path(f"/proc/{pid}").exists() and
                                          "Z" != _state(pid) for pid in pids):
        time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def snapshot(results: Path) -> tuple[dict, set]:
    """Digests of the finished records, and the trials that have a checkpoint."""
    records = {t: hashlib.sha256(t.path(results).read_bytes()).hexdigest()
               for t in trial_ids() if t.path(results).exists()}
    checkpoints = {t for t in trial_ids() if t.checkpoint_path(results).exists()}
    return records, checkpoints


def test_random_kills_lose_nothing_and_never_train_a_trial_twice(tmp_path):
    folder = tmp_path / "watched"
    folder.mkdir()
    submission = folder / "submission.py"
    submission.write_text(WATCHED)
    (folder / "search_space.json").write_text(json.dumps(
        {"learning_rate": {"feasible_points": list(LEARNING_RATES)}}))
    results = tmp_path / "r"
    rng = random.Random(15)
    finished: dict = {}
    had_checkpoint: set = set()
    kills = child_kills = 0
    while kills < KILLS:
        records, checkpoints = snapshot(results)
        if len(records) == len(LEARNING_RATES):
            break  # everything finished before the kills ran out
        had_checkpoint |= checkpoints - set(records)
        study = start_study(tmp_path, submission)
        time.sleep(rng.uniform(1.5, 7.0))
        if rng.random() < 0.5 and (child := trial_process(study)) is not None:
            os.kill(child, signal.SIGKILL)  # the trial process: the study starts it again once
            kills += 1
            child_kills += 1
            time.sleep(rng.uniform(1.0, 6.0))
        child = trial_process(study)
        study.send_signal(signal.SIGKILL)
        study.wait()
        kills += 1
        wait_gone([pid for pid in (child,) if pid])  # it checkpoints and stops with its parent
        records, _ = snapshot(results)
        for trial, digest in finished.items():  # no finished trial lost or rewritten
            assert records.get(trial) == digest, f"{trial} changed after it finished"
        finished.update(records)
    records, checkpoints = snapshot(results)
    had_checkpoint |= checkpoints - set(records)
    last = start_study(tmp_path, submission)
    assert last.wait(timeout=600) == 0, (tmp_path / "study.log").read_text()[-3000:]
    records, checkpoints = snapshot(results)
    assert set(records) == set(trial_ids()) and not checkpoints
    for trial, digest in finished.items():
        assert records[trial] == digest
    for trial in trial_ids():
        record = json.loads(trial.path(results).read_text())
        assert record["outcome"] == "budget", record["message"]
        assert record["submission_time"] >= BUDGET
        if trial in had_checkpoint:  # every unfinished trial resumed
            assert record["resumed"] >= 1, trial
    assert not (tmp_path / "overlap").exists(), "a trial was trained by two processes at once"
    assert kills >= 10 and child_kills >= 3  # enough kills of both before the study finished
