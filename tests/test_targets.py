"""Target setting (bench.targets, `bench set-targets`) and evaluation at fixed steps (cpu-v2)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bench import targets, tuning
from bench.cli import main
from bench.protocol import Outcome, ProtocolSettings
from bench.registry import get_submission, get_workload
from bench.submission import resolve_hparams
from bench.trial.loop import run_trial
from tests.conftest import FakeTimer, TinyRegression, write_submission

# ------------------------------------------------------------------ the procedure's arithmetic


def test_best_metric_follows_the_direction_and_skips_non_finite_values():
    curve = [(0, 0.0, 0.5), (10, 1.0, 0.9), (20, 2.0, float("nan")), (30, 3.0, 0.7)]
    assert targets.best_metric(curve, higher_is_better=True) == 0.9
    assert targets.best_metric(curve, higher_is_better=False) == 0.5
    assert targets.best_metric([(0, 0.0, float("inf"))], higher_is_better=False) is None


def test_choose_takes_the_best_configuration_and_refuses_when_none_trained():
    a = targets.Configuration("nadamw", {"learning_rate": 1e-3}, 0, 0.91, "budget")
    b = targets.Configuration("adamw", {"learning_rate": 1e-2}, 1, 0.95, "budget")
    broken = targets.Configuration("sgd_nesterov", {}, 2, None, "diverged")
    assert targets.choose([a, broken, b], higher_is_better=True) is b
    assert targets.choose([a, broken, b], higher_is_better=False) is a
    with pytest.raises(targets.TargetsError, match="no configuration"):
        targets.choose([broken], higher_is_better=True)


def test_target_is_the_median_of_the_seeds_best_metrics():
    # five seeds: the third of the sorted values; AlgoPerf's rule makes the target hard
    assert targets.median_target([0.93, 0.95, 0.94, 0.96, 0.92]) == pytest.approx(0.94)
    assert targets.median_target([1.0, 3.0]) == pytest.approx(2.0)


def test_budget_puts_the_median_time_to_target_at_three_quarters():
    # median of (3.0, 4.1, 5.0) is 4.1 s; 4.1 / 0.75 = 5.4667 s, rounded up to 5.5 s
    assert targets.budget_for([5.0, 3.0, 4.1]) == 5.5
    # 9.0 / 0.75 = 12.0 exactly: not rounded further
    assert targets.budget_for([9.0]) == 12.0
    with pytest.raises(targets.TargetsError):
        targets.budget_for([])


def test_seed_runs_record_the_first_evaluation_meeting_the_target():
    runs = [targets.SeedRun(100, 0.95, [(0, 0.1, 0.1), (30, 1.0, 0.94), (60, 2.0, 0.95)]),
            targets.SeedRun(101, 0.93, [(0, 0.1, 0.1), (30, 1.1, 0.93)])]
    at = targets.seed_runs_at(0.94, runs, higher_is_better=True)
    assert (at[0].steps_to_target, at[0].time_to_target) == (30, 1.0)
    assert (at[1].steps_to_target, at[1].time_to_target) == (None, None)
    lower = targets.seed_runs_at(0.5, [targets.SeedRun(1, 0.2, [(0, 0, 2.0), (5, 0.3, 0.4)])],
                                 higher_is_better=False)
    assert lower[0].steps_to_target == 5


# ---------------------------------------------------------------- evaluation at fixed steps


def test_cpu_v2_evaluates_every_percent_of_the_step_hint():
    spec = TinyRegression(step_hint=1000).spec
    assert ProtocolSettings(rules="cpu-v2").resolve(spec).eval_every_steps == 10
    assert ProtocolSettings(rules="cpu-v1").resolve(spec).eval_every_steps is None  # by time
    assert ProtocolSettings(rules="cpu-v2", eval_every_steps=7).resolve(spec).eval_every_steps == 7
    assert ProtocolSettings(rules="cpu-v2", step_hint=300).resolve(spec).eval_every_steps == 3


def trial_on_a_machine_of_speed(tick: float, rules: str):
    """The same trial, with a clock that advances `tick` seconds per read (a slower machine
    for a larger tick)."""
    workload = TinyRegression(target=0.02, step_hint=200, max_runtime=1e6, eval_period=0.5)
    submission = get_submission("sgd_nesterov")
    hparams = resolve_hparams(submission, {"learning_rate": 0.02})
    return run_trial(workload, submission, hparams, seed=3, timer=FakeTimer(tick),
                     settings=ProtocolSettings(rules=rules, evaluate_test=False, max_steps=400))


def test_steps_to_target_do_not_depend_on_the_machine_under_cpu_v2():
    fast, slow = (trial_on_a_machine_of_speed(tick, "cpu-v2") for tick in (0.0005, 0.004))
    assert fast.outcome is Outcome.HIT and slow.outcome is Outcome.HIT
    assert [row["step"] for row in fast.evals] == [row["step"] for row in slow.evals]
    assert all(row["step"] % 2 == 0 for row in fast.evals)  # every 1% of 200 steps
    assert fast.steps_to_target == slow.steps_to_target
    assert slow.time_to_target > fast.time_to_target  # only the clock differs


def test_evaluation_by_time_makes_the_steps_depend_on_the_machine():
    # the check above could fail: under time-based evaluation the same seed is evaluated at
    # other steps on a slower machine
    fast, slow = (trial_on_a_machine_of_speed(tick, "cpu-v1") for tick in (0.0005, 0.004))
    assert [row["step"] for row in fast.evals] != [row["step"] for row in slow.evals]


def test_target_setting_runs_train_three_quarters_of_the_step_hint_told_the_whole_of_it():
    seen = {}

    class Recording:  # a submission stand-in that notes the step hint it was given
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def make_optimizer(self, hparams, info):
            seen["step_hint"] = info.step_hint
            return self.inner.make_optimizer(hparams, info)

    submission = get_submission("sgd_nesterov")
    workload = TinyRegression(target=10.0)  # met at once: a normal trial would stop early
    point = {**submission.default_hparams, "horizon_factor": 0.75}
    result = run_trial(workload, Recording(submission), point,
                       settings=targets.target_setting_settings(200))
    # AlgoPerf's target-setting algorithms are told the step hint and schedule over
    # int(0.75 * step_hint) = 150 steps: here the point's horizon (tests/test_horizon.py)
    assert result.outcome is Outcome.BUDGET and result.steps == 150
    assert seen["step_hint"] == 200 and workload.spec.step_hint == 100  # original untouched
    # evaluated on the grid of the workload's step hint: 1% of 200, not of 150 (1.5 -> 2)
    assert [row["step"] for row in result.evals][:3] == [0, 2, 4]


# ----------------------------------------------------------------------- the whole procedure


SEARCH_SPACE = {"learning_rate": {"min": 0.003, "max": 0.3, "scaling": "log"},
                "horizon_factor": {"feasible_points": [0.75]}}


# SGD whose learning rate decays linearly to 0 over its horizon, as the baselines' schedules do
SCHEDULED_SGD = '''
import optax
from bench import schedules

DEFAULT_HPARAMS = {"learning_rate": 0.1, "horizon_factor": 1.0}

def make_optimizer(hparams, workload_info):
    steps = schedules.horizon(workload_info.step_hint, hparams["horizon_factor"])
    return optax.sgd(optax.linear_schedule(hparams["learning_rate"], 0.0, steps))
'''


@pytest.fixture
def sgd_with_space(tmp_path):
    path = write_submission(tmp_path, SCHEDULED_SGD)
    (path.parent / "search_space.json").write_text(json.dumps(SEARCH_SPACE))
    return path


def test_set_targets_end_to_end(sgd_with_space, tmp_path):
    report = targets.set_targets("tests.conftest:TINY", step_hint=60, trials=2, seeds=3,
                                 baselines=[str(sgd_with_space)], results_dir=tmp_path / "runs",
                                 command="test")
    assert len(report.configurations) == 2 and report.chosen in report.configurations
    best = [run.best_metric for run in report.seeds]
    assert [run.seed for run in report.seeds] == [100, 101, 102]
    assert report.validation_target == pytest.approx(sorted(best)[1])  # lower is better: median
    reached = [run for run in report.seeds if run.time_to_target is not None]
    assert len(reached) >= 2  # the median seed and those better than it
    times = sorted(run.time_to_target for run in reached)
    assert report.max_runtime >= times[len(times) // 2] / 0.75
    assert report.step_hint == 60 and report.eval_every_steps == 1
    assert report.target_setting_steps == 45  # int(0.75 * 60)
    assert {run.curve[-1][0] for run in report.seeds} == {45}

    path = targets.write_report(report, tmp_path / "out")
    again = targets.TargetReport.from_dict(json.loads(path.read_text()))
    assert again == report

    remeasured = targets.set_targets(
        "tests.conftest:TINY", step_hint=60, trials=2, seeds=3, baselines=[str(sgd_with_space)],
        results_dir=tmp_path / "runs", command="test", remeasure=True)
    assert remeasured.configurations == report.configurations  # tuning reused, seeds rerun:
    assert remeasured.validation_target == report.validation_target  # same steps, same metric
    set_aside = list((tmp_path / "runs").rglob("*.replaced-*"))
    assert len(set_aside) == 3


def test_tuning_refuses_points_whose_schedule_would_not_end_where_the_run_stops(tmp_path):
    path = write_submission(tmp_path / "code", SCHEDULED_SGD)
    space = {"learning_rate": {"min": 0.003, "max": 0.3, "scaling": "log"}}  # horizon 1: default
    (path.parent / "search_space.json").write_text(json.dumps(space))
    runs = tmp_path / "runs"
    with pytest.raises(targets.TargetsError, match="horizon_factor=1.0.*feasible_points"):
        targets.tune(get_workload("tests.conftest:TINY"), 60, [str(path)], 2, runs)
    assert not runs.exists() or not list(runs.rglob("*.json"))  # refused before any run


def test_the_shipped_baselines_search_spaces_end_their_schedules_at_three_quarters():
    for name in targets.BASELINES:
        submission = get_submission(name)
        targets.check_horizon(submission, tuning.study_points(submission, "external", 0, 5))


def test_markdown_summary_lists_the_seeds_that_reached_the_target():
    chosen = targets.Configuration("nadamw", {"learning_rate": 0.0082}, 2, 0.9745, "budget")
    report = targets.TargetReport(
        workload="mnist1d", rules="cpu-v2", target_metric="accuracy", higher_is_better=True,
        step_hint=16000, target_setting_steps=12000, eval_every_steps=160, validation_target=0.97, max_runtime=8.0,
        chosen=chosen, configurations=[chosen],
        seeds=[targets.SeedRun(100, 0.973, [], 4800, 5.76), targets.SeedRun(101, 0.969, [])],
        command="bench set-targets -w mnist1d", hardware={}, versions={})
    table = targets.markdown_summary([report])
    row = table.splitlines()[2]
    assert row == ("| mnist1d | nadamw (lr 0.0082) | accuracy >= 0.97 | 16000 | 160 | "
                   "4800 (1 of 2) | 5.8 s | 8 s |")


def test_set_targets_command_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(main, ["set-targets", "-w", "no_such_workload",
                                       "--results-dir", str(tmp_path)])
    assert result.exit_code == 2 and "no_such_workload" in result.output
    assert "Traceback" not in result.output


# ------------------------------------------------------------------ the committed reports


def committed_reports():
    from workloads import targets as workload_targets
    return sorted(path.stem for path in workload_targets.DIRECTORY.glob("*.json"))


@pytest.mark.parametrize("name", committed_reports())
def test_a_committed_report_follows_its_own_curves(name):
    """The target, budget and choice in each report, worked out again from its runs with numpy
    (not from bench.targets), and the workload's spec reading them."""
    import math

    import numpy as np

    from bench.registry import get_workload

    report = json.loads((targets.targets_dir() / f"{name}.json").read_text())
    sign = 1 if report["higher_is_better"] else -1
    best = [sign * max(sign * value for _, _, value in run["curve"]) for run in report["seeds"]]
    assert report["validation_target"] == pytest.approx(float(np.median(best)))
    crossings = [next(seconds for _, seconds, value in run["curve"]
                      if sign * value >= sign * report["validation_target"])
                 for run, b in zip(report["seeds"], best)
                 if sign * b >= sign * report["validation_target"]]
    assert len(crossings) >= math.ceil(len(best) / 2)
    assert report["max_runtime"] == math.ceil(np.median(crossings) / 0.75 / 0.5) * 0.5
    tried = [c["best_metric"] for c in report["configurations"] if c["best_metric"] is not None]
    assert report["chosen"]["best_metric"] == sign * max(sign * value for value in tried)
    evaluated = [step for step, _, _ in report["seeds"][0]["curve"]]
    assert evaluated[1] == report["eval_every_steps"] == round(0.01 * report["step_hint"])
    trained = report.get("target_setting_steps", report["step_hint"])  # older reports: the hint
    assert evaluated[-1] == trained

    spec = get_workload(name).spec
    assert (spec.validation_target, spec.step_hint, spec.max_runtime) == (
        report["validation_target"], report["step_hint"], report["max_runtime"])
    assert spec.tier in ("cpu", "smoke") and spec.target_metric == report["target_metric"]


def test_the_readmes_target_point_is_the_one_that_set_mnist1ds_target():
    from pathlib import Path

    point = json.loads((Path(__file__).parents[1] / "docs/mnist1d-target-point.json").read_text())
    assert point == targets.load_report("mnist1d").chosen.hparams


def test_an_explicit_eval_period_evaluates_by_time_under_cpu_v2():
    spec = TinyRegression(step_hint=1000).spec
    assert ProtocolSettings(eval_period=0.5).resolve(spec).eval_every_steps is None
    resolved = ProtocolSettings().resolve(spec)
    assert resolved.eval_every_steps == 10 and resolved.resolve(spec) == resolved  # idempotent
