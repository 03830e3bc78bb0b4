"""Schedule refinement (bench.refine, Defazio et al. 2023, arXiv 2310.07831): the formula on
hand-worked sequences, the constant-norm check (linear decay), the schedule file, the
nadamw_refined submission and the `refine` command."""

import json
import math

import click
import jax.numpy as jnp
import numpy as np
import pytest
from click.testing import CliRunner

from bench import api, refine, registry
from bench.cli.science import refine as refine_command
from bench.protocol import ProtocolSettings
from bench.trial.loop import run_trial
from bench.search_space import load_search_space
from tests.test_trial_record import complete_record
from tests.conftest import TinyRegression


def make_record(grad_norm, learning_rate=None, outcome="budget", **extra):
    steps = list(range(1, len(grad_norm) + 1))
    if learning_rate is None:
        learning_rate = [0.01] * len(steps)
    return {
        "ruleset": "single", "submission": "nadamw", "workload": "tiny", "study": 0, "trial": 0,
        "outcome": outcome, "steps": len(steps), "hparams": {}, "evals": [],
        "workload_spec": {"step_hint": len(steps), "target_metric": "loss",
                          "higher_is_better": False},
        "train_curve": {"step": steps, "loss": [1.0] * len(steps), "grad_norm": list(grad_norm),
                        "learning_rate": list(learning_rate)},
        **extra,
    }


# --------------------------------------------------------------------------------------------
# The formula, by hand
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_constant_gradient_norm_gives_linear_decay(power):
    # w_t constant: lr_t proportional to the number of later steps, T - t: 4, 3, 2, 1, 0.
    np.testing.assert_allclose(refine.refined_multipliers([3.0] * 5, power),
                               [1.0, 0.75, 0.5, 0.25, 0.0])


def test_refined_multipliers_by_hand():
    # G = 2, 1, 1, 2. SGD: w = 1/4, 1, 1, 1/4; w_t * sum_{p>t} w_p = 0.5625, 1.25, 0.25, 0.
    np.testing.assert_allclose(refine.refined_multipliers([2, 1, 1, 2], power=2),
                               [0.5625 / 1.25, 1.0, 0.25 / 1.25, 0.0])
    # Adam: w = 1/2, 1, 1, 1/2; products 1.25, 1.5, 0.5, 0.
    np.testing.assert_allclose(refine.refined_multipliers([2, 1, 1, 2], power=1),
                               [1.25 / 1.5, 1.0, 0.5 / 1.5, 0.0])


def test_falling_norms_give_a_warmup_and_rising_norms_a_fast_anneal():
    falling = refine.refined_multipliers(np.linspace(10, 1, 50), power=2)
    assert np.argmax(falling) > 10  # small early steps where the norms are large: a warmup
    rising = refine.refined_multipliers(np.linspace(1, 10, 50), power=2)
    linear = np.linspace(1, 0, 50)
    assert np.all(rising[1:-1] < linear[1:-1])  # anneals faster than linear decay


def test_refined_multipliers_reject_bad_norms():
    with pytest.raises(refine.RefineError):
        refine.refined_multipliers([1.0, 0.0, 1.0])
    with pytest.raises(refine.RefineError):
        refine.refined_multipliers([1.0])


def test_median_smooth_by_hand():
    np.testing.assert_allclose(refine.median_smooth([1, 1, 10, 1, 1], 3), [1, 1, 1, 1, 1])
    # start held at the first value: window (1, 1, 2) -> 1; end mirrored: (4, 5, 4) -> 4
    np.testing.assert_allclose(refine.median_smooth([1, 2, 3, 4, 5], 3), [1, 2, 3, 4, 4])
    np.testing.assert_allclose(refine.median_smooth([5, 1, 7], 1), [5, 1, 7])


# --------------------------------------------------------------------------------------------
# From a record; the schedule file
# --------------------------------------------------------------------------------------------


def test_refine_record_with_noisy_constant_norms_is_linear_decay():
    norms = [2.0] * 41
    norms[7], norms[30] = 50.0, 0.01  # isolated spikes: removed by the median filter
    schedule = refine.refine_record(make_record(norms), method="sgd", filter_fraction=0.1)
    assert schedule.filter_width == 5
    np.testing.assert_allclose(schedule.smoothed_grad_norm, 2.0)
    np.testing.assert_allclose(schedule.multipliers, np.linspace(1, 0, 41), atol=1e-12)
    assert schedule.peak_learning_rate == 0.01
    assert schedule.progress[0] == 0.0 and schedule.progress[-1] == 1.0


def test_refine_record_drops_a_diverged_tail_and_rejects_failed_trials():
    schedule = refine.refine_record(make_record([1.0] * 10 + [math.inf, math.nan],
                                                outcome="diverged"), filter_fraction=0)
    assert schedule.steps == list(range(1, 11))
    with pytest.raises(refine.RefineError, match="failed"):
        refine.refine_record(make_record([1.0] * 10, outcome="error"))
    with pytest.raises(refine.RefineError, match="at least 3 .*refine from a longer run"):
        refine.refine_record(make_record([1.0, 1.0]))
    with pytest.raises(refine.RefineError, match="unknown method"):
        refine.refine_record(make_record([1.0] * 5), method="lion")


def test_binned_record_is_resampled_on_a_uniform_grid():
    record = make_record([1.0] * 4)
    record["train_curve"]["step"] = [10, 20, 31, 40]  # bins of slightly different sizes
    schedule = refine.refine_record(record, filter_fraction=0)
    assert schedule.steps == [10, 20, 30, 40]
    np.testing.assert_allclose(schedule.multipliers, [1, 2 / 3, 1 / 3, 0])


def test_norms_logged_at_their_own_steps():
    """Records log the norm at the steps ending a chunk (`grad_norm_step`), the learning rate
    at every step: the schedule lives on the norm's steps, the applied rate is interpolated."""
    record = make_record([1.0] * 4, learning_rate=[0.04, 0.03, 0.02, 0.01])
    record["train_curve"].update(grad_norm_step=[1, 2, 3, 4], grad_norm=[1.0, 1.0, 1.0])
    with pytest.raises(refine.RefineError, match="different lengths"):
        refine.refine_record(record)
    record["train_curve"].update(grad_norm_step=[1, 2.5, 4], grad_norm=[2.0, 2.0, 2.0])
    schedule = refine.refine_record(record, filter_fraction=0)
    assert schedule.steps == [1, 2, 4]  # 2.5 rounds to 2 in the file
    np.testing.assert_allclose(schedule.multipliers, [1, 0.5, 0])
    np.testing.assert_allclose(schedule.applied_learning_rate, [0.04, 0.025, 0.01])


def test_adam_rule_uses_the_l1_norm_and_sgd_the_l2_norm():
    record = make_record([1.0] * 4)  # l2 constant: linear decay
    record["train_curve"]["grad_norm_l1"] = [2.0, 1.0, 1.0, 2.0]
    adam = refine.refine_record(record, method="adam", filter_fraction=0)
    # Adam rule on the l1 norms: w = 1/2, 1, 1, 1/2; products 1.25, 1.5, 0.5, 0 (by hand)
    np.testing.assert_allclose(adam.multipliers, [1.25 / 1.5, 1.0, 0.5 / 1.5, 0.0])
    assert adam.norm == "l1" and adam.to_json()["norm"] == "l1"
    sgd = refine.refine_record(record, method="sgd", filter_fraction=0)
    np.testing.assert_allclose(sgd.multipliers, [1.0, 2 / 3, 1 / 3, 0.0])
    assert sgd.norm == "l2"
    del record["train_curve"]["grad_norm_l1"]  # an older record: the l2 norm stands in
    assert refine.refine_record(record, method="adam", filter_fraction=0).norm == "l2"


def test_schedule_file_round_trip_and_stretching(tmp_path):
    schedule = refine.refine_record(make_record([1.0] * 5), filter_fraction=0)
    path = refine.write_schedule(schedule, tmp_path / "refined.json")
    data = refine.load_schedule(path)
    assert data["multipliers"] == [1.0, 0.75, 0.5, 0.25, 0.0]
    # the same length: the multipliers themselves, times the peak
    same = refine.schedule_function(data, peak=2.0, total_steps=5)
    np.testing.assert_allclose([float(same(t)) for t in range(7)], [2, 1.5, 1, 0.5, 0, 0, 0])
    # stretched over 9 updates: progress t/8, halfway between the file's points
    stretched = refine.schedule_function(data, peak=1.0, total_steps=9)
    np.testing.assert_allclose(np.asarray(stretched(jnp.arange(9))), np.linspace(1, 0, 9),
                               atol=1e-7)


def test_load_schedule_rejects_other_files(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"multipliers": [1, 0]}))
    with pytest.raises(refine.RefineError, match="not a refined-schedule file"):
        refine.load_schedule(tmp_path / "bad.json")
    good = refine.refine_record(make_record([1.0] * 5), filter_fraction=0).to_json()
    good["multipliers"][1] = -1.0
    (tmp_path / "negative.json").write_text(json.dumps(good))
    with pytest.raises(refine.RefineError, match=">= 0"):
        refine.load_schedule(tmp_path / "negative.json")
    with pytest.raises(refine.RefineError, match="cannot be read"):
        refine.load_schedule(tmp_path / "missing.json")


def test_choose_record_picks_the_best_finished_trial(tmp_path):
    for trial, (outcome, loss) in enumerate([("budget", 0.5), ("budget", 0.2), ("diverged", 0.0)]):
        record = make_record([1.0] * 5, outcome=outcome, trial=trial,
                             evals=[{"step": 5, "validation/loss": loss}])
        folder = tmp_path / "study_0"
        folder.mkdir(exist_ok=True)
        (folder / f"trial_{trial}.json").write_text(json.dumps(dict(complete_record(record))))
    path, record = refine.choose_record(tmp_path)
    assert path.name == "trial_1.json" and record["trial"] == 1


# --------------------------------------------------------------------------------------------
# The nadamw_refined submission
# --------------------------------------------------------------------------------------------


def test_submission_loads_with_a_valid_search_space():
    submission = registry.get_submission("nadamw_refined")
    assert submission.summary.startswith("NadamW with a refined schedule")
    assert submission.default_hparams["schedule_file"] is None
    space = load_search_space(submission.search_space_path)
    space.check_names(submission.default_hparams)


def _logged_rates(hparams, steps=12, step_hint=10):
    submission = registry.get_submission("nadamw_refined")
    settings = ProtocolSettings(max_steps=steps, eval_period=1e6, evaluate_test=False)
    result = run_trial(TinyRegression(target=-1.0, step_hint=step_hint), submission,
                       {**submission.default_hparams, **hparams}, settings=settings)
    assert result.outcome.value == "budget", result.message
    return np.asarray(result.train_curve["learning_rate"])


def test_submission_without_a_file_decays_linearly():
    # warmup_factor 0.2 of 10 steps = 2 warmup steps, then linear decay to 0 at step 10
    rates = _logged_rates({"learning_rate": 0.01, "warmup_factor": 0.2})
    expected = [0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0, 0]
    np.testing.assert_allclose(rates, 0.01 * np.array(expected), rtol=1e-5, atol=1e-9)


def test_submission_follows_a_refined_file(tmp_path):
    # G = 2, 1, 1, 2 with the Adam rule: multipliers 5/6, 1, 1/3, 0 at progress 0, 1/3, 2/3, 1
    record = make_record([2.0, 1.0, 1.0, 2.0])
    schedule = refine.refine_record(record, method="adam", filter_fraction=0)
    path = refine.write_schedule(schedule, tmp_path / "refined.json")
    rates = _logged_rates({"learning_rate": 0.01, "schedule_file": str(path)}, steps=9,
                          step_hint=7)
    # 7 updates at progress t/6: the file's points at t = 0, 2, 4, 6 and midpoints between
    multipliers = [5 / 6, (5 / 6 + 1) / 2, 1, 2 / 3, 1 / 3, 1 / 6, 0, 0, 0]
    np.testing.assert_allclose(rates, 0.01 * np.array(multipliers), rtol=1e-5, atol=1e-9)


def test_submission_with_a_missing_file_is_an_error_trial(tmp_path):
    submission = registry.get_submission("nadamw_refined")
    result = run_trial(TinyRegression(), submission,
                       {**submission.default_hparams, "schedule_file": str(tmp_path / "no.json")},
                       settings=ProtocolSettings(max_steps=2))
    assert result.outcome.value == "error"
    assert "cannot be read" in result.message


# --------------------------------------------------------------------------------------------
# End to end: a real run refined, then the command
# --------------------------------------------------------------------------------------------


def science_cli():
    group = click.Group("bench")
    group.add_command(refine_command)
    return group


def test_refine_command_end_to_end(tmp_path):
    outcome = api.run(TinyRegression(target=-1.0, step_hint=40), "nadamw",
                      hparams={"learning_rate": 0.05}, results_dir=tmp_path / "results",
                      settings=ProtocolSettings(max_steps=40, eval_every_steps=1,
                                                evaluate_test=False))
    assert outcome.record["outcome"] == "budget"
    # one step per chunk (an evaluation after each): a gradient norm at every step
    assert outcome.record["train_curve"]["grad_norm_step"] == list(range(1, 41))
    out = tmp_path / "refined.json"
    result = CliRunner().invoke(science_cli(), ["refine", "--from", str(tmp_path / "results"),
                                                "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Refined schedule" in result.output and "nadamw_refined" in result.output
    data = refine.load_schedule(out)
    assert len(data["multipliers"]) == 40 and data["multipliers"][-1] == 0.0
    assert max(data["multipliers"]) == 1.0
    assert data["peak_learning_rate"] == pytest.approx(0.05, rel=1e-6)
    assert data["source"]["submission"] == "nadamw"
    assert out.with_suffix(".png").stat().st_size > 0


def test_refine_command_user_errors(tmp_path):
    (tmp_path / "trial_0.json").write_text(json.dumps(dict(complete_record(make_record([1.0] * 2)))))
    result = CliRunner().invoke(science_cli(), ["refine", "--from", str(tmp_path / "trial_0.json"),
                                                "--out", str(tmp_path / "x.json")])
    assert result.exit_code == 2
    assert "at least 3" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(science_cli(), ["refine", "--from", str(empty),
                                                "--out", str(tmp_path / "x.json")])
    assert result.exit_code == 2 and "no trial records" in result.output
