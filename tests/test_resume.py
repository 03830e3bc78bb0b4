"""Interrupted trials resume from their checkpoint; same seed, same steps-to-target."""

import gc
import os
import signal
import sys
import time

import numpy as np
import pytest

from bench import api
from bench.trial import checkpoint, interrupt
from bench.protocol import ProtocolSettings
from bench.trial.loop import TrialInterrupted
from bench.submission import load_submission
from tests.conftest import TinyRegression

STEPWISE = ProtocolSettings(max_steps=400, eval_every_steps=5, evaluate_test=False)


def interrupt_at(step):
    def on_progress(snapshot):
        if snapshot.event == "eval" and snapshot.step == step:
            raise KeyboardInterrupt
    return on_progress


def run(tmp_path, sgd_path, **kwargs):
    return api.run(TinyRegression(target=0.01), load_submission(sgd_path),
                   hparams={"learning_rate": 0.05}, results_dir=tmp_path, settings=STEPWISE,
                   **kwargs)


def test_same_seed_same_steps_to_target(tmp_path, sgd_path):
    first = run(tmp_path / "a", sgd_path).record
    second = run(tmp_path / "b", sgd_path).record
    assert first["outcome"] == "hit" and first["steps_to_target"] > 20
    assert first["steps_to_target"] == second["steps_to_target"]
    assert first["train_curve"]["loss"] == second["train_curve"]["loss"]


def test_interrupted_trial_resumes_with_its_clock(tmp_path, sgd_path):
    reference = run(tmp_path / "ref", sgd_path).record
    with pytest.raises(TrialInterrupted):
        run(tmp_path / "r", sgd_path, on_progress=interrupt_at(10))
    record_path = tmp_path / "r" / "single" / "sgd" / "tiny" / "study_0" / "trial_0.json"
    ckpt_path = checkpoint.checkpoint_path(record_path)
    assert ckpt_path.exists() and not record_path.exists()
    meta = checkpoint.read_meta(ckpt_path)
    assert meta["step"] == 10 and meta["submission_time"] > 0

    resumed = run(tmp_path / "r", sgd_path)
    record = resumed.record
    assert not resumed.skipped and record["resumed"] == 1 and resumed.resumed_from_step == 10
    assert not ckpt_path.exists()
    assert record["steps_to_target"] == reference["steps_to_target"]
    assert [e["step"] for e in record["evals"]] == [e["step"] for e in reference["evals"]]
    np.testing.assert_allclose(record["train_curve"]["loss"], reference["train_curve"]["loss"],
                               rtol=1e-6)
    assert record["submission_time"] > meta["submission_time"]


def stop_swallowed_at(step):
    """SIGTERM to this process from inside a garbage-collection callback at `step`: the
    handler's KeyboardInterrupt is raised there, printed as ignored and dropped."""
    def send(phase, info):
        gc.callbacks.remove(send)
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.time() + 5
        while not interrupt.stop_requested() and time.time() < deadline:
            pass  # the handler runs here, inside the callback

    def on_progress(snapshot):
        if snapshot.event == "eval" and snapshot.step == step:
            gc.callbacks.append(send)
            gc.collect()
    return on_progress


def test_a_stop_whose_interrupt_was_swallowed_still_checkpoints_and_stops(tmp_path, sgd_path,
                                                                         monkeypatch):
    swallowed = []
    monkeypatch.setattr(sys, "unraisablehook", swallowed.append)
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    interrupt.stop_on_signals()
    try:
        with pytest.raises(TrialInterrupted):
            run(tmp_path, sgd_path, on_progress=stop_swallowed_at(10))
        assert interrupt.stop_requested()
        assert [type(each.exc_value) for each in swallowed] == [KeyboardInterrupt]
    finally:
        interrupt.forget_stop_request()
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
    record_path = tmp_path / "single" / "sgd" / "tiny" / "study_0" / "trial_0.json"
    assert not record_path.exists()
    assert 10 <= checkpoint.read_meta(checkpoint.checkpoint_path(record_path))["step"] < 20


def test_checkpoint_of_other_hparams_is_set_aside_not_recorded_as_an_error(tmp_path, sgd_path):
    with pytest.raises(TrialInterrupted):
        run(tmp_path, sgd_path, on_progress=interrupt_at(10))
    other = api.run(TinyRegression(target=0.01), load_submission(sgd_path),
                    hparams={"learning_rate": 0.07}, results_dir=tmp_path, settings=STEPWISE)
    assert other.record["outcome"] == "hit" and other.resumed_from_step is None
    assert "other hyperparameters" in other.notes[0]
    kept = list(other.path.parent.glob("trial_0.ckpt.replaced-*"))
    assert len(kept) == 1 and checkpoint.read_meta(kept[0])["step"] == 10


def test_corrupt_checkpoint_is_reported(tmp_path):
    path = tmp_path / "trial_0.ckpt"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(checkpoint.CheckpointError, match="trial_0.ckpt"):
        checkpoint.load(path, ({"w": np.zeros(2)},))


def test_killed_run_resumes_from_the_command_line(tmp_path):
    """SIGKILL a real `bench run` after its first checkpoint; the same command finishes it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    results = tmp_path / "r"
    command = [sys.executable, "-m", "bench.cli", "run", "-w", "mnist1d_mlp", "-s", "nadamw",
               "--max-runtime", "3", "--eval-period", "100", "--checkpoint-every", "0.2",
               "--results-dir", str(results)]
    record = results / "single" / "nadamw" / "mnist1d_mlp" / "study_0" / "trial_0.json"
    ckpt_path = checkpoint.checkpoint_path(record)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not ckpt_path.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert ckpt_path.exists(), "no checkpoint appeared"
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not record.exists()
    saved = checkpoint.read_meta(ckpt_path)
    assert saved["step"] > 0

    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    import json

    data = json.loads(record.read_text())
    assert data["resumed"] == 1 and data["steps"] > saved["step"]
    assert data["submission_time"] >= 3.0 and data["outcome"] in ("hit", "budget")
    assert not ckpt_path.exists()


class CountedStreams(TinyRegression):
    """TinyRegression whose training streams note when they are closed."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.streams = []

    def train_batches(self, batch_size, seed):
        stream = Closable(super().train_batches(batch_size, seed))
        self.streams.append(stream)
        return stream


class Closable:
    def __init__(self, inner):
        self.inner, self.closed = inner, False

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.inner)

    def close(self):
        self.closed = True


def test_every_training_stream_is_closed_when_the_trial_ends_resumed_or_not(tmp_path, sgd_path):
    def run_counted(workload, **kwargs):
        return api.run(workload, load_submission(sgd_path), hparams={"learning_rate": 0.05},
                       results_dir=tmp_path, settings=STEPWISE, **kwargs)

    interrupted = CountedStreams(target=0.01)
    with pytest.raises(TrialInterrupted):
        run_counted(interrupted, on_progress=interrupt_at(10))
    assert interrupted.streams and all(stream.closed for stream in interrupted.streams)

    resumed = CountedStreams(target=0.01)
    assert run_counted(resumed).resumed_from_step == 10
    # the stream opened at the start and the one positioned after step 10, both closed
    assert len(resumed.streams) == 2 and all(stream.closed for stream in resumed.streams)
