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


class SteadyReference:
    """Stands in for `bench.speed.ReferenceSteps` on a machine of fixed speed: its rate, and
    the machine seconds it was asked to keep up with."""

    def __init__(self, rate: float):
        self.rate, self.step_seconds, self.asked = rate, 0.001 * rate, []

    def catch_up(self, machine_seconds: float) -> None:
        self.asked.append(machine_seconds)

    def close(self) -> None:
        pass


def run_on(machine_tick: float, reference, version: str, sgd_path):
    """A trial to the budget (1 s) on a machine whose every duration is `machine_tick` per
    timer read: doubling the tick is a machine twice as slow."""
    settings = ProtocolSettings(rules=version, max_runtime=1.0, evaluate_test=False,
                                count_setup_time=False)
    return run_trial(TinyRegression(target=-1.0), load_submission(sgd_path),
                     {"learning_rate": 0.1}, settings=settings, timer=FakeTimer(machine_tick),
                     reference=reference)


def test_a_machine_twice_as_slow_gets_the_same_steps_and_times_in_reference_seconds(sgd_path):
    # the reference took 1 ms a step where the budget was set: 2 ms here, 4 ms on the slow one
    fast_reference, slow_reference = SteadyReference(2.0), SteadyReference(4.0)
    fast = run_on(0.01, fast_reference, "cpu-v3", sgd_path)
    slow = run_on(0.02, slow_reference, "cpu-v3", sgd_path)
    assert fast.outcome is slow.outcome is Outcome.BUDGET
    assert fast.steps == slow.steps > 10
    assert slow.submission_time == pytest.approx(fast.submission_time)
    assert [row["submission_time"] for row in slow.evals] == pytest.approx(
        [row["submission_time"] for row in fast.evals])
    assert (fast.reference_step_seconds, fast.clock_rate) == (0.002, 2.0)
    # the reference was kept up after every chunk (here each one ends in an evaluation, and the
    # step-0 evaluation comes before any), with the machine seconds timed so far
    assert len(fast_reference.asked) == len(fast.evals) - 1
    assert fast_reference.asked == sorted(fast_reference.asked)
    assert fast_reference.asked[-1] == pytest.approx(fast.submission_time * 2.0)
    # the same two machines under machine seconds (cpu-v2): the slow one's budget buys half
    fast_v2 = run_on(0.01, None, "cpu-v2", sgd_path)
    slow_v2 = run_on(0.02, None, "cpu-v2", sgd_path)
    assert slow_v2.steps < 0.6 * fast_v2.steps
    assert fast_v2.clock_rate == 1.0 and fast_v2.reference_step_seconds is None


def test_the_reference_is_paced_between_chunks_not_only_at_evaluations(sgd_path):
    # evaluations every 20 steps: the reference still catches up after every chunk between them
    reference = SteadyReference(2.0)
    settings = ProtocolSettings(rules="cpu-v3", max_steps=60, eval_every_steps=20,
                                max_runtime=1e6, evaluate_test=False, count_setup_time=False)
    result = run_trial(TinyRegression(target=-1.0), load_submission(sgd_path),
                       {"learning_rate": 0.1}, settings=settings, timer=FakeTimer(0.01),
                       reference=reference)
    assert [row["step"] for row in result.evals] == [0, 20, 40, 60]
    assert len(reference.asked) > 2 * len(result.evals)


def test_the_reference_trains_until_it_has_taken_its_share_of_the_trials_seconds():
    from bench import registry

    workload = registry.get_workload("digits")
    workload.load()
    reference = speed.Reference("digits", "sgd_nesterov", {}, step_seconds=0.001)
    steps = speed.ReferenceSteps(workload, reference, timer=FakeTimer(tick=0.01))
    assert (steps.steps, steps.seconds) == (0, 0.0)  # the compiling steps are not timed
    steps.catch_up(0.0)
    assert steps.seconds >= speed.INITIAL_SECONDS
    first = steps.steps
    steps.catch_up(20.0)  # the trial has timed 20 s of this machine
    assert steps.seconds >= speed.INITIAL_SECONDS + speed.SHARE * 20.0
    assert steps.steps > first
    assert steps.rate == pytest.approx(steps.seconds / steps.steps / 0.001)
    steps.close()


def test_the_reference_synchronises_as_often_as_the_trial_on_any_machine():
    # FakeTimer is a machine where each synchronised chunk costs one tick, however many steps it
    # holds: the rates of two such machines compare as their ticks only if both chunk the
    # reference alike, as the trial's loop chunks it (CHUNK_SECONDS of reference seconds).
    from bench import registry

    workload = registry.get_workload("digits")
    workload.load()
    reference = speed.Reference("digits", "sgd_nesterov", {}, step_seconds=0.001)
    rates = []
    for tick in (0.01, 0.03):
        steps = speed.ReferenceSteps(workload, reference, timer=FakeTimer(tick))
        steps.catch_up(20.0)
        chunks = steps.seconds / tick
        assert steps.steps / chunks == pytest.approx(0.02 / 0.001, rel=0.1)
        rates.append(steps.rate)
        steps.close()
    assert rates[1] / rates[0] == pytest.approx(3.0, rel=0.03)


def test_the_reference_trains_whole_chunks_when_the_trial_paces_it_a_little_at_a_time():
    # the trial paces the reference after each of its chunks, when it is a fraction of a chunk
    # behind: it still trains whole chunks, never the fraction
    from bench import registry

    workload = registry.get_workload("digits")
    workload.load()
    reference = speed.Reference("digits", "sgd_nesterov", {}, step_seconds=0.001)
    tick = 0.01
    steps = speed.ReferenceSteps(workload, reference, timer=FakeTimer(tick))
    for trial_chunks in range(1, 200):
        steps.catch_up(0.02 * trial_chunks)  # 20 ms of the trial's seconds a chunk
    chunks = steps.seconds / tick
    assert steps.steps == steps.chunk * round(chunks) == 20 * round(chunks)
    steps.close()


CHEAT = '''
"""Replaces, at import, how the machine is measured, so that its own seconds count for less."""
import optax
import bench.speed

bench.speed.start = lambda *args, **kwargs: None
bench.speed.INITIAL_SECONDS = 0.0

DEFAULT_HPARAMS = {"learning_rate": 0.01}

def make_optimizer(hparams, workload_info):
    return optax.sgd(hparams["learning_rate"])
'''

PATCHES_THE_RATE = CHEAT.replace("bench.speed.start = lambda *args, **kwargs: None",
                                 "bench.speed.ReferenceSteps.rate = property(lambda self: 1e6)")


def run_in_child(tmp_path, source: str):
    """The submission's trial in its own process; this process never imports it (importing it
    here would patch this process's bench.speed for the tests that follow)."""
    from bench import registry
    from bench.describe import describe_submission

    submission = describe_submission(write_submission(tmp_path, source, name="cheat"))
    settings = ProtocolSettings(rules="cpu-v3", max_steps=5, evaluate_test=False)
    request = backends.TrialRequest(registry.get_workload("digits"), submission,
                                    dict(submission.default_hparams),
                                    TrialId("single", "cheat", "digits"),
                                    results_dir=tmp_path / "r", settings=settings)
    return backends.run_isolated(request, time_limit=300).record


def test_the_reference_is_started_before_the_submission_is_imported(tmp_path):
    record = run_in_child(tmp_path, CHEAT)
    assert record["outcome"] == "budget", record["message"]
    assert 0 < record["reference_step_seconds"] < 1.0
    assert 0 < record["clock_rate"] < 100.0
    from bench import results  # the rate is a column of the trials' table

    assert results.load(tmp_path / "r").trials["clock_rate"].tolist() == [record["clock_rate"]]


def test_a_submission_that_patches_the_reference_steps_is_caught(tmp_path):
    record = run_in_child(tmp_path, PATCHES_THE_RATE)
    assert record["outcome"] == "tampered"
    assert "ReferenceSteps.rate" in record["message"]


def test_a_workload_without_a_reference_is_a_one_line_error_under_cpu_v3(tmp_path):
    from click.testing import CliRunner

    from bench.cli import main

    result = CliRunner().invoke(main, ["run", "-w", "ogbg", "-s", "nadamw", "--rules", "cpu-v3",
                                       "--fake-data", "--max-steps", "1",
                                       "--results-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "ogbg has no target-setting report" in result.output
    assert "Traceback" not in result.output
