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


@pytest.mark.parametrize("version, every", [("algoperf-v0.5", True), ("cpu-v1", True),
                                            ("cpu-v2", False)])
def test_settings_take_when_to_evaluate_the_test_split_from_their_version(version, every):
    resolved = ProtocolSettings(rules=version).resolve(TinyRegression().spec)
    assert resolved.test_every_evaluation is every
    forced = ProtocolSettings(rules=version, test_every_evaluation=not every)
    assert forced.resolve(TinyRegression().spec).test_every_evaluation is (not every)


def splits_evaluated(result):
    return [sorted(key.split("/")[0] for key in row if key.startswith(("validation/", "test/")))
            for row in result.evals]


def run_with_test(sgd_path, target, every):
    return run_trial(TinyRegression(target=target), load_submission(sgd_path),
                     {"learning_rate": 0.1}, timer=FakeTimer(tick=0.01),
                     settings=ProtocolSettings(max_runtime=1.0, eval_period=0.25,
                                               count_setup_time=False, count_compile_time=False,
                                               test_every_evaluation=every))


def test_the_test_split_only_at_the_evaluation_that_ends_a_trial(sgd_path):
    missed = run_with_test(sgd_path, target=-1.0, every=False)  # a loss target never met
    assert missed.outcome is Outcome.BUDGET and len(missed.evals) > 2
    assert splits_evaluated(missed) == [["validation"]] * (len(missed.evals) - 1) + [
        ["test", "validation"]]  # its one metric, the loss, per split
    losses = [row["validation/loss"] for row in missed.evals]
    hit = run_with_test(sgd_path, target=(losses[0] + losses[-1]) / 2, every=False)
    assert hit.outcome is Outcome.HIT and 1 < len(hit.evals) < len(missed.evals)
    assert splits_evaluated(hit)[-1] == ["test", "validation"]  # the evaluation meeting it
    assert all("test/loss" not in row for row in hit.evals[:-1])
    every = run_with_test(sgd_path, target=-1.0, every=True)
    assert all("test/loss" in row for row in every.evals)
    # the same steps and validation metrics either way: only the evaluation time differs
    assert [row["validation/loss"] for row in every.evals] == [
        row["validation/loss"] for row in missed.evals]
