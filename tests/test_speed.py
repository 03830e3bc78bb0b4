"""The cpu-v3 clock in reference seconds (bench.speed): a machine's slowness against the one that
set the budget divides every second the clock counts, so a slower machine gets the same steps
within the budget and the same times, and a submission cannot set its own rate."""

import pytest

from bench import rules, speed
from bench.protocol import Outcome, ProtocolSettings, SubmissionClock
from bench.submission import load_submission
from bench.trial import backends
from bench.trial.loop import run_trial
from bench.trial.record import TrialId
from tests.conftest import FakeTimer, TinyRegression, write_submission

REPORT = {  # a target-setting report reduced to what a reference is read from
    "workload": "w",
    "chosen": {"submission": "sgd_nesterov", "hparams": {"learning_rate": 0.1}},
    "seeds": [
        {"seed": 100, "time_to_target": 3.0, "steps_to_target": 1000},  # 3.0 ms a step
        {"seed": 101, "time_to_target": None, "steps_to_target": None},  # never met it
        {"seed": 102, "time_to_target": 4.4, "steps_to_target": 1100},  # 4.0 ms
        {"seed": 103, "time_to_target": 2.5, "steps_to_target": 1000},  # 2.5 ms
    ],
}


def test_the_reference_step_time_is_the_median_over_the_seeds_that_met_the_target():
    reference = speed.reference_from_report(REPORT)
    assert reference.step_seconds == pytest.approx(0.003)
    assert (reference.submission, reference.hparams) == ("sgd_nesterov", {"learning_rate": 0.1})
    with pytest.raises(speed.NoReferenceError, match="no target-setting seed met the target"):
        speed.reference_from_report({**REPORT, "seeds": [REPORT["seeds"][1]]})


def test_every_cpu_workload_with_a_report_has_a_reference():
    reference = speed.reference_for("synthetic_lm")
    assert reference.submission == "sgd_nesterov"
    assert 0 < reference.step_seconds < 0.1
    with pytest.raises(speed.NoReferenceError, match="no target-setting report"):
        speed.reference_for("imagenet_resnet")


def test_the_rate_is_the_measured_step_time_over_the_references():
    reference = speed.Reference("w", "sgd_nesterov", {}, step_seconds=0.003)
    assert speed.clock_rate(0.0075, reference) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="positive"):
        speed.clock_rate(0.0, reference)


def test_a_clock_at_rate_two_counts_half_of_every_second():
    timer = FakeTimer(tick=1.0)
    clock = SubmissionClock(timer, rate=2.0)
    clock.start()  # t=1
    clock.stop()  # t=2: one second of the machine
    clock.add(3.0)  # three more, measured elsewhere
    assert clock.elapsed == pytest.approx(0.5 + 1.5)
    with pytest.raises(ValueError, match="positive"):
        SubmissionClock(timer, rate=0.0)


def test_cpu_v3_counts_reference_seconds_and_keeps_everything_else_of_cpu_v2():
    v2, v3 = rules.load("cpu-v2"), rules.load("cpu-v3")
    assert (v2.timing.clock, v3.timing.clock) == ("machine", "reference")
    assert v3.tuning == v2.tuning and v3.scoring == v2.scoring and v3.evaluation == v2.evaluation
    with pytest.raises(rules.RulesError, match="timing.clock must be one of"):
        rules.from_dict({"version": "x", "title": "x", "tier": "cpu",
                         "tuning": {}, "scoring": {"tau_max": 4.0, "num_taus": 10,
                                                   "trial_choice": "fastest",
                                                   "tau_max_cut": "on_ratios",
                                                   "variant_rule": "hit",
                                                   "held_out_variants": "all"},
                         "timing": {"compile_counts": False, "init_optimizer_counts": True,
                                    "eval_past_budget_counts": True, "clock": "sundial"}})


def run_on(machine_tick: float, measured: speed.Measurement | None, version: str, sgd_path):
    """A trial to the budget (1 s) on a machine whose every duration is `machine_tick` per
    timer read: doubling the tick is a machine twice as slow."""
    settings = ProtocolSettings(rules=version, max_runtime=1.0, evaluate_test=False,
                                count_setup_time=False)
    return run_trial(TinyRegression(target=-1.0), load_submission(sgd_path),
                     {"learning_rate": 0.1}, settings=settings, timer=FakeTimer(machine_tick),
                     speed_measurement=measured)


def test_a_machine_twice_as_slow_gets_the_same_steps_and_times_in_reference_seconds(sgd_path):
    # the reference took 1 ms a step where the budget was set: 2 ms here, 4 ms on the slow one
    fast = run_on(0.01, speed.Measurement(0.002, rate=2.0), "cpu-v3", sgd_path)
    slow = run_on(0.02, speed.Measurement(0.004, rate=4.0), "cpu-v3", sgd_path)
    assert fast.outcome is slow.outcome is Outcome.BUDGET
    assert fast.steps == slow.steps > 10
    assert slow.submission_time == pytest.approx(fast.submission_time)
    assert [row["submission_time"] for row in slow.evals] == pytest.approx(
        [row["submission_time"] for row in fast.evals])
    assert (fast.reference_step_seconds, fast.clock_rate) == (0.002, 2.0)
    # the same two machines under machine seconds (cpu-v2): the slow one's budget buys half
    fast_v2 = run_on(0.01, None, "cpu-v2", sgd_path)
    slow_v2 = run_on(0.02, None, "cpu-v2", sgd_path)
    assert slow_v2.steps < 0.6 * fast_v2.steps
    assert fast_v2.clock_rate == 1.0 and fast_v2.reference_step_seconds is None


def test_the_measured_step_time_is_that_of_training_steps_not_of_compiling():
    from bench import registry

    workload = registry.get_workload("digits")
    workload.load()
    reference = speed.reference_for("digits")
    measured = speed.measure_step_seconds(workload, reference)
    # a training step of the digits MLP takes well under 10 ms on any machine that runs the
    # tier; its compilation takes hundreds of milliseconds
    assert 0 < measured < 0.01


CHEAT = '''
"""Makes the machine look slow at import, so that its own seconds would count for less."""
import optax
import bench.speed
from bench.speed import Measurement

bench.speed.measure = lambda *args, **kwargs: Measurement(1e6, 1e6)
bench.speed.measure_step_seconds = lambda *args, **kwargs: 1e6
bench.speed.clock_rate = lambda *args, **kwargs: 1e6

DEFAULT_HPARAMS = {"learning_rate": 0.01}

def make_optimizer(hparams, workload_info):
    return optax.sgd(hparams["learning_rate"])
'''


def test_the_machine_is_measured_before_the_submission_is_imported(tmp_path):
    from bench import registry

    submission = load_submission(write_submission(tmp_path, CHEAT, name="cheat"))
    settings = ProtocolSettings(rules="cpu-v3", max_steps=5, evaluate_test=False)
    request = backends.TrialRequest(registry.get_workload("digits"), submission,
                                    dict(submission.default_hparams),
                                    TrialId("single", "cheat", "digits"),
                                    results_dir=tmp_path / "r", settings=settings)
    record = backends.run_isolated(request, time_limit=300).record
    assert record["outcome"] == "budget", record["message"]
    assert 0 < record["reference_step_seconds"] < 1.0
    assert 0 < record["clock_rate"] < 100.0
