"""Full-control submissions: a controller steering training through the TrainingHandle."""

import pytest

from bench.protocol import ProtocolSettings
from bench.trial.loop import run_trial
from bench.submission import SubmissionError, load_submission
from tests.conftest import TinyRegression, write_submission

CONTROLLED = '''
"""SGD whose learning rate a controller sets, with a probe at step 4."""
import optax

DEFAULT_HPARAMS = {}
SEEN = []

def make_optimizer(hparams, workload_info):
    return optax.inject_hyperparams(optax.sgd)(learning_rate=0.0)

def make_controller(hparams, workload_info):
    def control(handle):
        if handle.step == 0:
            handle.set_learning_rate(0.05)
        if handle.step == 4:
            before = handle.holdout_loss()
            snapshot = handle.snapshot()
            losses = handle.train(3)
            after_probe = handle.holdout_loss()
            handle.restore(snapshot)
            SEEN.append((before, losses, after_probe, handle.holdout_loss()))
            handle.set_learning_rate(0.01)
    return control
'''


def test_controller_sets_rates_and_probes_without_moving_the_trial(tmp_path):
    submission = load_submission(write_submission(tmp_path, CONTROLLED, name="controlled"))
    result = run_trial(TinyRegression(target=-1.0), submission, {},
                       settings=ProtocolSettings(max_steps=8, eval_period=1e6))
    assert result.outcome.value == "budget", result.message
    assert result.steps == 8  # probe steps are not trial steps
    assert result.train_curve["learning_rate"] == pytest.approx([0.05] * 4 + [0.01] * 4)
    import sys

    module = sys.modules[submission.make_controller.__module__]
    ((before, losses, after_probe, restored),) = module.SEEN
    assert len(losses) == 3
    assert after_probe < before  # the probe trained
    assert restored == pytest.approx(before)  # and restoring undid it


def test_controller_must_take_two_arguments(tmp_path):
    path = write_submission(tmp_path, CONTROLLED.replace(
        "def make_controller(hparams, workload_info):", "def make_controller(hparams):"),
        name="bad")
    with pytest.raises(SubmissionError, match="make_controller"):
        load_submission(path)


def test_controller_may_ask_to_be_called_less_often(tmp_path):
    source = '''
"""Calls every 5 steps."""
import optax
DEFAULT_HPARAMS = {}
CALLS = []
def make_optimizer(hparams, workload_info):
    return optax.inject_hyperparams(optax.sgd)(learning_rate=0.01)
def make_controller(hparams, workload_info):
    def control(handle):
        CALLS.append(handle.step)
        return 5
    return control
'''
    submission = load_submission(write_submission(tmp_path, source, name="sparse"))
    result = run_trial(TinyRegression(target=-1.0), submission, {},
                       settings=ProtocolSettings(max_steps=17, eval_period=1e6))
    import sys

    assert result.steps == 17
    assert sys.modules[submission.make_controller.__module__].CALLS == [0, 5, 10, 15]
