"""AutoLRS (Jin et al., ICLR 2021, arXiv 2105.10762): the GP, acquisitions and exponential
forecast of `bench.optim.autolrs` against hand-worked values, and the `autolrs` submission
steering a trial through the runner's TrainingHandle."""

import dataclasses
import math

import numpy as np
import pytest

from bench.optim import autolrs
from bench.protocol import ProtocolSettings
from bench.registry import submissions_dir
from bench.trial.loop import run_trial
from bench.submission import load_submission, resolve_hparams
from tests.conftest import TinyRegression

# ---------------------------------------------------------------------------------------------
# Gaussian process
# ---------------------------------------------------------------------------------------------


def test_gp_posterior_two_points_by_hand():
    # RBF, l = 1, signal variance 1, no noise; X = (0, 1), y = (1, 0).
    # K = [[1, r], [r, 1]] with r = e^-1/2, so K^-1 y = (1, -r) / (1 - r^2). At x* = 1/2 both
    # k*_i = e^-1/8 = s, so mean = s (1 - r) / (1 - r^2) = s / (1 + r) and
    # var = 1 - s^2 (1, 1) K^-1 (1, 1)^T = 1 - 2 s^2 / (1 + r).
    r, s = math.exp(-0.5), math.exp(-0.125)
    mean, var = autolrs.gp_posterior([0.0, 1.0], [1.0, 0.0], [0.5, 0.0, 3.0],
                                     kernel=autolrs.rbf_kernel, length_scale=1.0,
                                     noise_variance=0.0)
    np.testing.assert_allclose(mean[0], s / (1 + r), rtol=1e-12)
    np.testing.assert_allclose(var[0], 1 - 2 * s**2 / (1 + r), rtol=1e-12)
    # At a training point the posterior is the observation, with no variance left.
    np.testing.assert_allclose([mean[1], var[1]], [1.0, 0.0], atol=1e-12)
    # Far away: K^-1 y = (1, -r)/(1 - r^2), k* = (e^-9/2, e^-2) -> back towards the prior.
    k = np.array([math.exp(-4.5), math.exp(-2.0)])
    alpha = np.array([1.0, -r]) / (1 - r**2)
    np.testing.assert_allclose(mean[2], k @ alpha, rtol=1e-12)


def test_gp_posterior_with_noise_and_scale_by_hand():
    # One point, Matérn 5/2 at distance r = l: k = (1 + sqrt5 + 5/3) e^-sqrt5. With signal
    # variance 2 and noise 0.5: mean = 2k y / (2 + 0.5), var = 2 - (2k)^2 / 2.5.
    k = (1 + math.sqrt(5) + 5 / 3) * math.exp(-math.sqrt(5))
    mean, var = autolrs.gp_posterior([0.2], [3.0], [0.5], kernel=autolrs.matern52_kernel,
                                     length_scale=0.3, signal_variance=2.0, noise_variance=0.5)
    np.testing.assert_allclose(mean, [2 * k * 3.0 / 2.5], rtol=1e-12)
    np.testing.assert_allclose(var, [2 - (2 * k) ** 2 / 2.5], rtol=1e-12)


def test_fitted_gp_interpolates_in_the_units_of_the_data():
    x = np.linspace(0, 1, 7)
    y = 10 + 3 * np.sin(3 * x)
    gp = autolrs.GaussianProcess().fit(x, y)
    mean, std = gp.predict(x)
    np.testing.assert_allclose(mean, y, atol=0.05)
    assert np.all(std < 0.2)
    _, std_between = gp.predict([0.5 / 6])  # between two points: less certain than on them
    assert std_between[0] > std.max() * 0.5


def test_acquisitions_by_hand():
    np.testing.assert_allclose(autolrs.lower_confidence_bound([1.0, 2.0], [0.5, 1.0], 2.0),
                               [0.0, 0.0])
    # EI with mean = best: d = 0, EI = sigma phi(0) = sigma / sqrt(2 pi); negated.
    np.testing.assert_allclose(autolrs.expected_improvement([1.0], [2.0], best=1.0),
                               [-2.0 / math.sqrt(2 * math.pi)], rtol=1e-12)
    # No uncertainty: EI = max(best - mean, 0).
    np.testing.assert_allclose(autolrs.expected_improvement([0.25, 3.0], [0.0, 0.0], best=1.0),
                               [-0.75, 0.0])


def test_bayes_minimize_finds_the_minimum_of_a_1d_function():
    f = lambda x: (x - 0.37) ** 2 + 0.1 * np.sin(12 * x)  # noqa: E731
    grid = np.linspace(0, 1, 100_001)
    x_true = grid[np.argmin(f(grid))]
    for acquisition in ("lcb", "ei"):
        result = autolrs.bayes_minimize(f, 8, acquisition=acquisition, kappa=2.0)
        assert len(result.xs) == 8 and len(set(result.xs)) == 8  # no point probed twice
        assert abs(result.best_x - x_true) < 0.02, (acquisition, result.xs)
        assert result.best_y == pytest.approx(float(f(result.best_x)))


def test_bayes_minimize_steers_away_from_non_finite_values():
    def f(x):  # diverges above 0.6, best at the edge of divergence
        return math.inf if x > 0.6 else (x - 0.55) ** 2

    result = autolrs.bayes_minimize(f, 8)
    assert abs(result.best_x - 0.55) < 0.05
    assert math.isfinite(result.best_y)


# ---------------------------------------------------------------------------------------------
# Exponential forecast
# ---------------------------------------------------------------------------------------------


def test_exponential_fit_recovers_known_parameters():
    t = np.arange(0, 50.0)
    fit = autolrs.fit_exponential(t, 0.5 + 2.0 * np.exp(-0.05 * t))
    np.testing.assert_allclose([fit.a, fit.b, fit.c], [0.5, 2.0, 0.05], rtol=1e-6)
    # A rising curve (b < 0), sampled from t = 3 on.
    t = np.arange(3, 40.0)
    fit = autolrs.fit_exponential(t, 1.0 - 0.7 * np.exp(-0.1 * t))
    np.testing.assert_allclose([fit.a, fit.b, fit.c], [1.0, -0.7, 0.1], rtol=1e-6)
    assert autolrs.exponential_forecast(t, fit(t), 500) == pytest.approx(1.0 - 0.7 * np.exp(-50))


def test_exponential_forecast_of_a_noisy_curve():
    rng = np.random.default_rng(0)
    t = np.arange(0, 30.0)
    y = 0.3 + 1.5 * np.exp(-0.08 * t) + 0.01 * rng.normal(size=t.size)
    forecast = autolrs.exponential_forecast(t, y, 300)
    assert forecast == pytest.approx(0.3, abs=0.05)


def test_min_decay_bounds_the_extrapolation():
    # A straight line: unbounded, the fit extrapolates it; with min_decay 1 the curve must
    # bend within the data and forecasts at most 0.58 x the fitted drop beyond them.
    t = np.arange(0, 11.0)
    y = 1.0 - 0.01 * t
    assert autolrs.exponential_forecast(t, y, 100) < 0.1  # nearly the line's 0.0
    bounded = autolrs.exponential_forecast(t, y, 100, min_decay=1.0)
    assert 0.9 - 0.1 * 0.59 < bounded < 0.9


def test_degenerate_series_forecast_their_mean():
    assert autolrs.exponential_forecast([0, 1], [2.0, 1.0], 10) == pytest.approx(1.5)
    assert autolrs.exponential_forecast([0, 1, 2], [2.0, 2.0, 2.0], 10) == pytest.approx(2.0)


# ---------------------------------------------------------------------------------------------
# The submission through the runner
# ---------------------------------------------------------------------------------------------

SMALL = {  # on TinyRegression (step hint 100): tau = 10, tau' = 3, k = 4, no warmup
    "tau_fraction": 0.1, "tau_max_fraction": 0.1, "probe_fraction": 0.3, "min_probe_steps": 3,
    "num_probes": 4, "warmup_fraction": 0.0, "lr_min": 1e-3, "lr_max": 0.3, "weight_decay": 0.0,
}


def run_autolrs(hparams, steps):
    submission = load_submission(submissions_dir() / "autolrs")
    make, controllers = submission.make_controller, []

    def make_controller(h, info):  # keep the controller, to read its stages
        controllers.append(make(h, info))
        return controllers[-1]

    submission = dataclasses.replace(submission, make_controller=make_controller)
    result = run_trial(TinyRegression(target=-1.0), submission,
                       resolve_hparams(submission, hparams),
                       settings=ProtocolSettings(max_steps=steps, eval_period=1e6))
    assert result.outcome.value == "budget", result.message
    return result, controllers[0]


@pytest.mark.parametrize("forecast_loss", ["holdout", "train"])
def test_learning_rate_changes_only_at_stage_starts_and_stays_in_bounds(forecast_loss):
    result, controller = run_autolrs({**SMALL, "forecast_loss": forecast_loss}, 30)
    assert result.steps == 30  # probe steps are not trial steps
    rates = result.train_curve["learning_rate"]
    assert len(rates) == 30
    for start in (0, 10, 20):  # one constant rate per stage of tau = 10 steps
        assert len(set(rates[start:start + 10])) == 1, rates
    assert all(SMALL["lr_min"] * 0.999 <= r <= SMALL["lr_max"] * 1.001 for r in rates)
    # Three searches of k = 4 probes each, at steps 0, 10, 20; each stage runs its best probe.
    assert [stage.step for stage in controller.stages] == [0, 10, 20]
    for stage, start in zip(controller.stages, (0, 10, 20)):
        assert len(stage.learning_rates) == 4 and stage.tau_prime == 3
        best = int(np.argmin(stage.forecasts))
        assert stage.chosen == stage.learning_rates[best]
        assert rates[start] == pytest.approx(stage.chosen, rel=1e-5)
    # The search found a better rate than the smallest one: the loss went down.
    assert np.mean(result.train_curve["loss"][-5:]) < 0.5 * result.train_curve["loss"][0]


def test_stages_double_up_to_tau_max_after_warmup():
    hparams = {**SMALL, "tau_max_fraction": 0.4, "warmup_fraction": 0.05}
    result, controller = run_autolrs(hparams, 80)
    rates = result.train_curve["learning_rate"]
    warmup_rate = load_submission(submissions_dir() / "autolrs") \
        .default_hparams["warmup_learning_rate"]
    np.testing.assert_allclose(rates[:5], [warmup_rate * (i + 1) / 5 for i in range(5)],
                               rtol=1e-5)
    # Stages of 10, 20, 40, 40 steps from step 5 (tau' = 3, 6, 12, 12).
    assert [(s.step, s.tau, s.tau_prime) for s in controller.stages] == [
        (5, 10, 3), (15, 20, 6), (35, 40, 12), (75, 40, 12)]
    changes = [i for i in range(1, 80) if rates[i] != rates[i - 1]]
    assert set(changes) <= {1, 2, 3, 4, 5, 15, 35, 75}


def test_defaults_and_search_space_are_consistent():
    from bench.search_space import load_search_space

    submission = load_submission(submissions_dir() / "autolrs")
    load_search_space(submission.search_space_path).check_names(submission.default_hparams)
    with pytest.raises(ValueError, match="forecast_loss"):
        submission.make_controller({**submission.default_hparams, "forecast_loss": "val"},
                                   TinyRegression().info(TinyRegression().init(None)[0]))
