"""What a rules version says of the clock, applied by the training loop: whether setup and
compilation count as submission time, and whether an evaluation past the budget may still hit."""

import pytest

from bench.protocol import Outcome, ProtocolSettings
from bench.submission import load_submission
from bench.trial.loop import run_trial
from tests.conftest import FakeTimer, TinyRegression


@pytest.mark.parametrize("version, setup, compile_, past_budget", [
    ("algoperf-v0.5", False, True, True),  # AlgoPerf counts JIT, not init_optimizer_state
    ("algoperf-v0.6", False, True, False),  # v0.6: no evaluation once the budget is spent
    ("cpu-v1", True, False, True),  # the cpu tier: setup counts, compilation apart
])
def test_settings_take_the_clock_rules_of_their_version(version, setup, compile_, past_budget):
    spec = TinyRegression().spec
    resolved = ProtocolSettings(rules=version).resolve(spec)
    assert (resolved.count_setup_time, resolved.count_compile_time,
            resolved.eval_past_budget) == (setup, compile_, past_budget)
    forced = ProtocolSettings(rules=version, eval_past_budget=not past_budget).resolve(spec)
    assert forced.eval_past_budget is (not past_budget)  # an explicit setting wins


def run_to_budget(sgd_path, **settings):
    timer = FakeTimer(tick=0.01)
    return run_trial(TinyRegression(target=-1.0), load_submission(sgd_path),
                     {"learning_rate": 0.1}, timer=timer,
                     settings=ProtocolSettings(max_runtime=1.0, eval_period=0.25,
                                               evaluate_test=False, count_setup_time=False,
                                               count_compile_time=False, **settings))


def test_no_evaluation_past_the_budget_when_the_rules_forbid_it(sgd_path):
    allowed = run_to_budget(sgd_path, eval_past_budget=True)
    forbidden = run_to_budget(sgd_path, eval_past_budget=False)
    assert allowed.outcome is forbidden.outcome is Outcome.BUDGET
    # every evaluation of the forbidding trial lies within the budget; the other one evaluates
    # once more after the budget is spent
    assert all(row["submission_time"] <= 1.0 for row in forbidden.evals)
    assert allowed.evals[-1]["submission_time"] >= 1.0
    assert len(allowed.evals) == len(forbidden.evals) + 1
    assert "no evaluation past the budget" in forbidden.message


def test_counted_compilation_starts_the_clock_at_its_seconds(sgd_path):
    timer = FakeTimer(tick=0.01)
    settings = ProtocolSettings(max_runtime=1e6, max_steps=2, evaluate_test=False,
                                count_setup_time=False, count_compile_time=True)
    result = run_trial(TinyRegression(target=-1.0), load_submission(sgd_path),
                       {"learning_rate": 0.1}, settings=settings, timer=timer)
    assert result.compile_time > 0
    # two steps take a few ticks; counted compilation adds all of the warm-up's ticks
    assert result.submission_time >= result.compile_time
    assert result.evals[0]["submission_time"] == pytest.approx(result.compile_time)
