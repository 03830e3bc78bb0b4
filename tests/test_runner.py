"""The protocol as the runner implements it: what is timed, when it evaluates, when it stops."""

import math

import numpy as np
import pytest

from bench.protocol import Outcome, ProtocolSettings, SubmissionClock
from bench.submission import load_submission
from tests.conftest import FakeTimer, TinyRegression, write_submission
from bench.trial.loop import run_trial


def test_clock_sums_spans_only():
    timer = FakeTimer(tick=1.0)
    clock = SubmissionClock(timer)
    clock.start()          # t=1
    clock.stop()           # t=2 -> 1s
    timer.now += 100.0     # time outside the clock
    clock.start()          # t=103
    clock.stop()           # t=104 -> 1s
    assert clock.elapsed == pytest.approx(2.0)
    with pytest.raises(RuntimeError):
        clock.stop()
    clock.start()
    with pytest.raises(RuntimeError):
        clock.start()


class SlowEval(TinyRegression):
    """Every evaluation takes 50 s of (fake) time."""

    def __init__(self, timer, **kw):
        super().__init__(**kw)
        self.timer = timer

    def evaluate(self, params, model_state, split):
        self.timer.now += 50.0
        return super().evaluate(params, model_state, split)


def test_evaluation_time_is_not_submission_time(sgd_path):
    timer = FakeTimer(tick=0.01)
    workload = SlowEval(timer, target=-1.0)  # unreachable: run to the budget
    submission = load_submission(sgd_path)
    settings = ProtocolSettings(max_runtime=1.0, eval_period=0.25, evaluate_test=False)
    result = run_trial(workload, submission, {"learning_rate": 0.1}, settings=settings, timer=timer)
    assert result.outcome is Outcome.BUDGET
    evals = len(result.evals)
    assert evals >= 4
    assert result.eval_time >= 50.0 * evals
    # The budget is one second of submission time although each eval took 50 s of wall time.
    assert 1.0 <= result.submission_time < 1.2
    assert result.wall_time > result.eval_time > result.submission_time


def test_eval_cadence_follows_submission_time(sgd_path):
    timer = FakeTimer(tick=0.01)
    workload = TinyRegression(target=-1.0)
    submission = load_submission(sgd_path)
    settings = ProtocolSettings(max_runtime=2.0, eval_period=0.5, evaluate_test=False,
                                count_setup_time=False)  # the setup counts on the cpu tier
    result = run_trial(workload, submission, {"learning_rate": 0.1}, settings=settings, timer=timer)
    times = [row["submission_time"] for row in result.evals]
    assert times[0] == 0.0 and result.evals[0]["step"] == 0
    # one evaluation per period crossed (0.5, 1.0, 1.5, 2.0), the last one at the budget
    assert len(times) == 5
    for k, t in enumerate(times[1:], start=1):
        assert 0.5 * k <= t < 0.5 * k + 0.1


def test_stops_at_first_eval_meeting_target(sgd_path):
    workload = TinyRegression(target=0.05)
    submission = load_submission(sgd_path)
    settings = ProtocolSettings(max_runtime=1e6, eval_period=1e-9, evaluate_test=False)
    result = run_trial(workload, submission, {"learning_rate": 0.1}, settings=settings)
    assert result.outcome is Outcome.HIT
    losses = [row["validation/loss"] for row in result.evals]
    assert losses[-1] <= 0.05 and all(value > 0.05 for value in losses[:-1])
    # eval_period ~0 evaluates after every step, so steps-to-target is exact
    assert result.steps_to_target == result.steps == len(losses) - 1
    assert result.time_to_target == pytest.approx(result.evals[-1]["submission_time"])


def test_step_budget(sgd_path):
    result = run_trial(
        TinyRegression(target=-1.0), load_submission(sgd_path), {"learning_rate": 0.1},
        settings=ProtocolSettings(max_steps=7, eval_period=1e6),
    )
    assert result.outcome is Outcome.BUDGET and result.steps == 7
    assert result.time_to_target is None and "not reached" in result.message
    assert [row["step"] for row in result.evals] == [0, 7]


def test_non_finite_loss_is_divergence(sgd_path):
    result = run_trial(
        TinyRegression(), load_submission(sgd_path), {"learning_rate": 1e6},
        settings=ProtocolSettings(max_steps=500),
    )
    assert result.outcome is Outcome.DIVERGED
    assert not math.isfinite(result.train_curve["loss"][-1])
    # the first non-finite step is named; steps after it in the same synchronised chunk ran too
    bad_step = int(result.message.rsplit("step ", 1)[1])
    assert bad_step <= result.steps
    curve = dict(zip(result.train_curve["step"], result.train_curve["loss"]))
    assert not math.isfinite(curve[bad_step]) and math.isfinite(curve[bad_step - 1])


def test_failing_submission_is_an_error_outcome(tmp_path):
    path = write_submission(tmp_path, '''
        import optax
        DEFAULT_HPARAMS = {}
        def make_optimizer(hparams, workload_info):
            raise RuntimeError("boom in make_optimizer")
    ''', name="broken")
    result = run_trial(TinyRegression(), load_submission(path), {})
    assert result.outcome is Outcome.ERROR
    assert "RuntimeError: boom in make_optimizer" in result.message


def test_train_curve_logs_loss_grad_norm_and_learning_rate(tmp_path):
    path = write_submission(tmp_path, '''
        import optax
        DEFAULT_HPARAMS = {}
        def make_optimizer(hparams, workload_info):
            schedule = optax.linear_schedule(0.1, 0.0, 10)
            return optax.inject_hyperparams(optax.sgd)(learning_rate=schedule)
    ''', name="scheduled")
    result = run_trial(
        TinyRegression(target=-1.0), load_submission(path), {},
        settings=ProtocolSettings(max_steps=5, eval_period=1e6),
    )
    curve = result.train_curve
    assert curve["step"] == [1, 2, 3, 4, 5]
    # inject_hyperparams stores the schedule's value at the count *before* the update
    assert curve["learning_rate"] == pytest.approx([0.1, 0.09, 0.08, 0.07, 0.06])
    assert curve["loss"][0] > curve["loss"][-1]
    # the gradient norm is logged on the last step of each chunk: the run's end is one
    assert curve["grad_norm_step"][-1] == 5
    assert set(curve["grad_norm_step"]) <= set(curve["step"])
    assert len(curve["grad_norm"]) == len(curve["grad_norm_l1"]) == len(curve["grad_norm_step"])
    assert all(norm > 0 for norm in curve["grad_norm"])


def test_grad_norm_is_the_first_batch_gradient_norm(sgd_path):
    """One step per chunk (an evaluation every step): the norm is logged at every step, and
    the first is the least-squares gradient at w = 0, b = 0 on the first training batch."""
    workload = TinyRegression(target=-1.0)
    result = run_trial(
        workload, load_submission(sgd_path), {"learning_rate": 0.1},
        settings=ProtocolSettings(max_steps=3, eval_every_steps=1),
    )
    curve = result.train_curve
    assert curve["grad_norm_step"] == [1, 2, 3]
    batch = next(workload.train_batches(workload.spec.batch_size, 0))
    x, y = batch["inputs"].astype(np.float64), batch["targets"].astype(np.float64)
    residual = -y  # prediction 0 minus target
    grad_w = 2.0 * x.T @ residual / len(y)
    grad_b = 2.0 * residual.mean()
    expected = np.sqrt(np.sum(grad_w ** 2) + grad_b ** 2)
    assert curve["grad_norm"][0] == pytest.approx(expected, rel=1e-5)
    assert curve["grad_norm_l1"][0] == pytest.approx(np.sum(np.abs(grad_w)) + abs(grad_b),
                                                      rel=1e-5)
    assert curve["grad_norm"][1] < curve["grad_norm"][0]  # a descent step on least squares


def test_learning_rate_is_null_when_unknown(sgd_path):
    result = run_trial(
        TinyRegression(target=-1.0), load_submission(sgd_path), {"learning_rate": 0.1},
        settings=ProtocolSettings(max_steps=3, eval_period=1e6),
    )
    assert result.train_curve["learning_rate"] == [None, None, None]


def test_optimizer_init_that_cannot_be_traced_still_runs(tmp_path):
    """The runner compiles `optimizer.init`; an init with Python logic on values runs as is."""
    path = write_submission(tmp_path, '''
        import jax.numpy as jnp
        import optax
        DEFAULT_HPARAMS = {}
        def make_optimizer(hparams, workload_info):
            base = optax.sgd(0.05)
            def init(params):
                if float(jnp.sum(params["w"])) != 0.0:  # needs concrete values
                    raise AssertionError("the tiny workload starts at zero")
                return base.init(params)
            return optax.GradientTransformation(init, base.update)
    ''', name="untraceable_init")
    result = run_trial(TinyRegression(target=-1.0), load_submission(path), {},
                       settings=ProtocolSettings(max_steps=3, eval_period=1e6))
    assert result.outcome is Outcome.BUDGET, result.message
    assert result.steps == 3
