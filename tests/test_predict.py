"""Loss-curve prediction (bench.predict, Tissue et al. 2024, arXiv 2408.11029): the areas on
hand-worked sequences, recovery of hand-picked constants from noisy synthetic curves, the
prediction of another schedule, and the `predict` command."""

import json

import click
import numpy as np
import pytest
from click.testing import CliRunner

from bench import predict
from bench.cli.science import predict as predict_command
from tests.test_trial_record import complete_record

# --------------------------------------------------------------------------------------------
# The areas, by hand
# --------------------------------------------------------------------------------------------


def test_forward_and_annealing_areas_by_hand():
    lrs = [1.0, 1.0, 0.5, 0.0]
    np.testing.assert_allclose(predict.forward_area(lrs), [1, 2, 2.5, 2.5])
    # lambda = 0.5, lr_0 = lr_1: m = 0, 0, 0 + 0.5, 0.25 + 0.5 -> S2 = 0, 0, 0.5, 1.25
    np.testing.assert_allclose(predict.annealing_area(lrs, 0.5), [0, 0, 0.5, 1.25])
    # lambda = 0: m is the drop itself, S2 the total drop so far
    np.testing.assert_allclose(predict.annealing_area(lrs, 0.0), [0, 0, 0.5, 1.0])
    # a constant rate anneals nothing
    np.testing.assert_allclose(predict.annealing_area([0.3] * 5), 0.0)
    with pytest.raises(predict.PredictError):
        predict.annealing_area(lrs, 1.0)


def test_warmup_counts_in_the_forward_area_only():
    lrs = [0.5, 1.0, 1.0, 0.5]
    # S1 sums every update; the momentum starts at update 2 (the first at the peak), so the
    # rise is not negative annealing: m = 0, 0, 0.5 after it (lambda = 0.5)
    after = predict.areas([1, 2, 3, 4], lrs, decay=0.5)
    np.testing.assert_array_equal(after.steps, [2, 3, 4])  # the warmup's points are not fitted
    np.testing.assert_allclose(after.s1, [1.5, 2.5, 3.0])
    np.testing.assert_allclose(after.s2, [0.0, 0.0, 0.5])
    everything = predict.areas([1, 2, 3, 4], lrs, decay=0.5, fit_warmup=True)
    np.testing.assert_array_equal(everything.steps, [1, 2, 3, 4])
    np.testing.assert_allclose(everything.s1, [0.5, 1.5, 2.5, 3.0])
    np.testing.assert_allclose(everything.s2, [0.0, 0.0, 0.0, 0.5])
    # a warmup from 0: no point while S1 is still 0
    np.testing.assert_array_equal(
        predict.areas([1, 2, 3], [0.0, 1.0, 1.0], fit_warmup=True).steps, [2, 3])


def test_binned_curve_learning_rate_is_interpolated_per_step():
    curve = predict.Curve(np.array([2, 4]), np.array([1.0, 0.5]), np.array([1.0, 0.0]))
    np.testing.assert_allclose(curve.per_step_learning_rate(), [1.0, 1.0, 0.5, 0.0])


def test_loss_after_s_updates_is_the_loss_logged_at_step_s_plus_1():
    curve = predict.Curve(np.arange(1, 6), np.array([9.0, 1, 2, 3, 4]), np.ones(5))
    fit = predict.LawFit(predict.LawParams(0.0, 1.0, 1.0, 0.0), 0.999, False, 0.0, 0, [])
    report = predict.evaluate_prediction(fit, curve)
    np.testing.assert_array_equal(report.steps, [1, 2, 3, 4])
    np.testing.assert_allclose(report.observed, [1, 2, 3, 4])
    np.testing.assert_allclose(report.predicted, [1, 1 / 2, 1 / 3, 1 / 4])  # S1 = s


# --------------------------------------------------------------------------------------------
# Recovering hand-picked constants
# --------------------------------------------------------------------------------------------

TRUE = predict.LawParams(L0=2.0, A=1.0, alpha=0.5, C=0.15)
STEPS, WARMUP, PEAK = 1000, 50, 0.01


def warmup(lrs):
    lrs[:WARMUP] = PEAK * np.arange(WARMUP) / WARMUP
    return lrs


def wsd_rates(cooldown=200):
    lrs = np.full(STEPS, PEAK)
    lrs[STEPS - cooldown:] = PEAK * (1 - np.arange(cooldown) / cooldown)
    return warmup(lrs)


def cosine_rates():
    t = np.arange(STEPS)
    return warmup(PEAK * 0.5 * (1 + np.cos(np.pi * (t - WARMUP) / (STEPS - WARMUP))))


def synthetic_curve(lrs, noise=0.01, seed=0, label=""):
    """A logged curve whose loss after s updates (logged at step s + 1) is the law plus noise;
    the warmup's losses are arbitrary (the law does not cover them)."""
    rng = np.random.default_rng(seed)
    loss = np.full(lrs.size, 10.0)
    a = predict.areas(np.arange(1, lrs.size), lrs)
    loss[a.steps] = predict.law(TRUE, a.s1, a.s2) + noise * rng.normal(size=a.steps.size)
    return predict.Curve(np.arange(1, lrs.size + 1), loss, lrs, label)


def assert_recovered(params):
    assert params.L0 == pytest.approx(TRUE.L0, abs=0.05)
    assert params.A == pytest.approx(TRUE.A, rel=0.05)
    assert params.alpha == pytest.approx(TRUE.alpha, abs=0.03)
    assert params.C == pytest.approx(TRUE.C, rel=0.1)


def test_recovers_the_constants_from_one_noisy_curve():
    fit = predict.fit_law([synthetic_curve(wsd_rates())])
    assert_recovered(fit.params)
    assert fit.rmse == pytest.approx(0.01, rel=0.15)  # the noise level
    assert fit.points == STEPS - WARMUP - 1  # after updates 51 .. 999 (1000 is not logged)


def test_recovers_the_constants_from_two_curves_and_predicts_a_third():
    fitted = [synthetic_curve(np.where(np.arange(STEPS) < WARMUP, wsd_rates(), PEAK), seed=1),
              synthetic_curve(wsd_rates(cooldown=100), seed=2)]
    fit = predict.fit_law(fitted)
    assert_recovered(fit.params)
    target = synthetic_curve(cosine_rates(), seed=3)
    report = predict.evaluate_prediction(fit, target)
    assert report.mean_absolute_error < 0.015  # mean |noise| = 0.008
    # the cosine's annealing area (3.6) is four times the fitted curves': C's error shows
    assert abs(report.final_error) < 0.03
    noiseless = predict.predict_loss(fit, cosine_rates())[1]
    exact = predict.areas(np.arange(1, STEPS + 1), cosine_rates())
    truth = predict.law(TRUE, exact.s1, exact.s2)
    assert np.max(np.abs(noiseless - truth)) < 0.03


def test_fit_needs_enough_points():
    curve = predict.Curve(np.arange(1, 5), np.ones(4), np.ones(4))
    with pytest.raises(predict.PredictError, match="too few"):
        predict.fit_law([curve])


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def record_file(path, curve, workload="tiny", submission="nadamw_wsd"):
    record = {
        "ruleset": "single", "submission": submission, "workload": workload, "study": 0,
        "trial": 0, "outcome": "budget", "steps": int(curve.steps[-1]), "evals": [],
        "train_curve": {"step": curve.steps.tolist(), "loss": curve.loss.tolist(),
                        "grad_norm": [1.0] * curve.steps.size,
                        "learning_rate": curve.learning_rate.tolist()},
    }
    path.write_text(json.dumps(dict(complete_record(record))))
    return str(path)


def science_cli():
    group = click.Group("bench")
    group.add_command(predict_command)
    return group


def test_predict_command(tmp_path):
    fit_a = record_file(tmp_path / "a.json", synthetic_curve(wsd_rates(), seed=4))
    fit_b = record_file(tmp_path / "b.json", synthetic_curve(wsd_rates(100), seed=5))
    target = record_file(tmp_path / "c.json", synthetic_curve(cosine_rates(), seed=6),
                         submission="nadamw")
    out = tmp_path / "out"
    result = CliRunner().invoke(science_cli(), ["predict", "--fit", fit_a, "--fit", fit_b,
                                                "--target", target, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "mean absolute error" in result.output
    summary = json.loads((out / "prediction.json").read_text())
    assert summary["errors"]["mean_absolute_error"] < 0.015
    assert summary["fit"]["params"]["alpha"] == pytest.approx(TRUE.alpha, abs=0.03)
    assert len(summary["prediction"]["step"]) == STEPS - WARMUP - 1
    assert (out / "prediction.png").stat().st_size > 0


def test_predict_command_user_errors(tmp_path):
    curve = synthetic_curve(wsd_rates())
    a = record_file(tmp_path / "a.json", curve)
    other = record_file(tmp_path / "o.json", curve, workload="mnist1d")
    runner = CliRunner()
    result = runner.invoke(science_cli(), ["predict", "--fit", a, "--target", other,
                                           "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "different workloads" in result.output
    unknown = json.loads((tmp_path / "a.json").read_text())
    unknown["train_curve"]["learning_rate"] = [None] * STEPS
    (tmp_path / "u.json").write_text(json.dumps(unknown))
    result = runner.invoke(science_cli(), ["predict", "--fit", a, "--target",
                                           str(tmp_path / "u.json"), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "applied learning rate" in result.output
