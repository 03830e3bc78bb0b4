"""Nothing compiles while the submission clock runs: the compile phase warms, before the clock,
the training step, the submission's evaluation hook and the functions a controller's handle
runs, so a cold compilation cache costs no submission time under the cpu-tier rules; under
AlgoPerf's rules the warm-up's seconds count, as AlgoPerf counts compilation.

Compilations are seen through jax's monitoring events: XLA's backend compile (or its fetch from
the persistent cache) records one `/jax/core/compile/backend_compile_duration` event per
program. `jax.clear_caches()` first, so each test compiles from scratch whatever ran before.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
import pytest

from bench import devices, registry
from bench.protocol import Outcome, ProtocolSettings, SubmissionClock
from bench.trial import loop
from tests.conftest import FakeTimer, TinyRegression

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
SETTINGS = ProtocolSettings(rules="cpu-v1", max_steps=12, eval_every_steps=4, max_runtime=1e6)
# AutoLRS on the tiny workload (step hint 100): 2 warmup steps setting the learning rate at
# every step, then a search at step 2 (3 probes of 4 steps, a held-out loss after each).
SMALL_AUTOLRS = {"min_probe_steps": 4, "num_probes": 3}


class CompileLog:
    """The programs jax compiled, split by whether a submission clock was running."""

    def __init__(self):
        self.clocks: list[SubmissionClock] = []
        self.inside: list[str] = []
        self.outside: list[str] = []

    def __call__(self, event: str, duration: float, **details) -> None:
        if event == BACKEND_COMPILE:
            running = any(clock.running for clock in self.clocks)
            (self.inside if running else self.outside).append(details.get("fun_name", "?"))


@pytest.fixture
def compile_log(monkeypatch):
    log = CompileLog()

    class WatchedClock(SubmissionClock):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            log.clocks.append(self)

    monkeypatch.setattr(loop, "SubmissionClock", WatchedClock)
    jax.clear_caches()
    jax.monitoring.register_event_duration_secs_listener(log)
    yield log
    jax.monitoring.unregister_event_duration_listener(log)


def run(name: str, **hparams):
    submission = registry.get_submission(name)
    result = loop.run_trial(TinyRegression(target=-1.0), submission,
                            {**submission.default_hparams, **hparams}, settings=SETTINGS)
    assert result.outcome is Outcome.BUDGET, result.message
    assert result.steps == SETTINGS.max_steps
    return result


@pytest.mark.parametrize("name, hparams", [
    ("nadamw", {}),
    ("schedule_free_adamw", {}),  # eval_params at every evaluation, inside the clock
    ("autolrs", SMALL_AUTOLRS),  # a controller: learning rate set, probe steps, held-out loss
])
def test_nothing_compiles_while_the_clock_runs(compile_log, name, hparams):
    run(name, **hparams)
    assert "jit(train_step)" in compile_log.outside  # the log sees compilations at all
    assert compile_log.inside == []


def test_the_check_sees_what_an_unwarmed_trial_compiles_inside_the_clock(compile_log,
                                                                        monkeypatch):
    """The old compile phase (training step only): the hook's and the controller's
    functions compiled at their first call, inside the clock."""
    monkeypatch.setattr(loop.TrainingLoop, "warm_eval_hook", lambda self, trained: None)
    monkeypatch.setattr(loop.TrainingLoop, "warm_controller_harness",
                        lambda self, trained: None)
    run("schedule_free_adamw")
    assert compile_log.inside  # the eager operations of eval_params
    compile_log.inside.clear()
    run("autolrs", **SMALL_AUTOLRS)
    assert "jit(<lambda>)" in compile_log.inside  # the held-out loss


def test_a_learning_rate_set_through_the_handle_keeps_the_step_compiled(compile_log):
    """The new rate is placed as the old one: a step compiled for the state before takes the
    state after without compiling again."""
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    params = devices.replicate({"w": jnp.ones(3)}, devices.data_mesh())
    state = [(params, {}, devices.replicate(optimizer.init(params), devices.data_mesh()))]
    update = jax.jit(lambda opt_state: optimizer.update(params, opt_state, params))
    jax.block_until_ready(update(state[0][2]))
    handle = loop.TrainingHandle(lambda: 0, lambda: state[0],
                                 lambda new: state.__setitem__(0, new), None, None)
    handle.set_learning_rate(0.5)
    compile_log.outside.clear()
    updates, _ = update(state[0][2])
    assert compile_log.outside == []
    assert handle.learning_rate() == 0.5
    assert float(updates["w"][0]) == pytest.approx(-0.5)  # sgd: -lr * gradient (here 1)


@pytest.mark.parametrize("compile_counts", [True, False])
def test_the_hook_warm_up_is_compile_time_and_counts_where_compilation_does(compile_counts):
    """A hook that takes 1000 s of a manual clock: its two warm-up calls (a copy of the initial
    state, a throw-away trained one) are compile time; the step-0 evaluation's call is
    submission time. Where compilation counts (AlgoPerf's rules: tests/test_rules_timing.py)
    the clock starts at the compile time, elsewhere at zero."""
    timer = FakeTimer(tick=0.0)

    def slow_eval_params(params, opt_state):
        timer.now += 1000.0
        return params

    submission = dataclasses.replace(registry.get_submission("nadamw"),
                                     eval_params=slow_eval_params)
    settings = dataclasses.replace(SETTINGS, max_steps=4, count_setup_time=False,
                                   count_compile_time=compile_counts)
    result = loop.run_trial(TinyRegression(target=-1.0), submission,
                            submission.default_hparams, settings=settings, timer=timer)
    assert result.outcome is Outcome.BUDGET, result.message
    assert result.compile_time == 2000.0
    started_at = 2000.0 if compile_counts else 0.0
    assert [row["submission_time"] for row in result.evals] == [
        started_at + 1000.0, started_at + 2000.0]  # steps 0 and 4: one call each
