"""Schedules (bench.schedules) against values worked out by hand from their formulas, and the
schedule submissions (nadamw_wsd, nadamw_rex, nadamw_power, nadamw_infinite) end to end."""

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench import registry, schedules
from bench.protocol import Outcome, ProtocolSettings
from bench.trial.loop import run_trial
from bench.search_space import load_search_space
from tests.conftest import TinyRegression


def values(schedule, steps):
    """The schedule at `steps`, evaluated on one int32 array (schedules are elementwise)."""
    return np.asarray(schedule(jnp.asarray(list(steps), jnp.int32)), np.float64)


def assert_values(schedule, expected: dict, rtol=1e-5, atol=1e-7):
    steps = list(expected)
    np.testing.assert_allclose(values(schedule, steps), list(expected.values()), rtol=rtol,
                               atol=atol, err_msg=f"at steps {steps}")


def non_increasing(schedule, start, stop):
    v = values(schedule, range(start, stop))
    return bool(np.all(np.diff(v) <= 1e-7 * max(1.0, abs(v).max())))


# ---------------------------------------------------------------------------------------------
# Decay shapes f(x): f(0) = 1, f(1) = 0
# ---------------------------------------------------------------------------------------------

SHAPE_VALUES = {
    # x:          0     .25        .5         .75        .9         1
    "linear": [1.0, 0.75, 0.5, 0.25, 0.1, 0.0],
    "cosine": [1.0, 0.8535534, 0.5, 0.1464466, 0.0244717, 0.0],  # (1 + cos(pi x)) / 2
    "1-sqrt": [1.0, 0.5, 0.2928932, 0.1339746, 0.0513167, 0.0],  # REFERENCES.md table
    # (e^(1-x) - 1) / (e - 1): e^.75 = 2.117000, e^.5 = 1.648721, e^.25 = 1.284025, e^.1 = 1.105171
    "exponential": [1.0, 0.6500681, 0.3775407, 0.1652962, 0.0612069, 0.0],
}
XS = [0.0, 0.25, 0.5, 0.75, 0.9, 1.0]


@pytest.mark.parametrize("shape", sorted(SHAPE_VALUES))
def test_decay_shapes_by_hand(shape):
    f = schedules.decay_shape(shape)
    np.testing.assert_allclose([float(f(jnp.float32(x))) for x in XS], SHAPE_VALUES[shape],
                               atol=2e-7)


def test_unknown_shape_is_rejected():
    with pytest.raises(ValueError, match="unknown decay shape"):
        schedules.wsd(1.0, 100, 10, 0.2, shape="square")


# ---------------------------------------------------------------------------------------------
# Warmup + cosine, warmup + linear
# ---------------------------------------------------------------------------------------------


def test_warmup_cosine_by_hand():
    f = schedules.warmup_cosine(2.0, total_steps=1000, warmup_steps=100)
    # warmup 2 t / 100; cosine midpoint at 100 + 900/2 = 550 gives 2 (1 + cos(pi/2))/2 = 1
    assert_values(f, {0: 0.0, 50: 1.0, 100: 2.0, 550: 1.0, 1000: 0.0, 1500: 0.0}, atol=1e-6)
    assert non_increasing(f, 100, 1100)


def test_warmup_linear_by_hand():
    f = schedules.warmup_linear(2.0, total_steps=1000, warmup_steps=100, end_value=0.2)
    # after the warmup: 0.2 + 1.8 (1 - (t - 100)/900); at 550: 0.2 + 0.9 = 1.1; at 820: 0.2 + 0.36
    assert_values(f, {0: 0.0, 25: 0.5, 100: 2.0, 550: 1.1, 820: 0.56, 1000: 0.2, 2000: 0.2})
    assert non_increasing(f, 100, 1100)


def test_warmup_linear_without_warmup_starts_at_peak():
    assert_values(schedules.warmup_linear(1.0, 10, 0), {0: 1.0, 5: 0.5, 10: 0.0})


# ---------------------------------------------------------------------------------------------
# WSD and its branches
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["linear", "cosine", "1-sqrt"])
def test_wsd_by_hand(shape):
    # T = 1000, cooldown 20%: the cooldown starts at 800 and lasts 200 steps, so
    # x = .25, .5, .75, .9 at steps 850, 900, 950, 980.
    peak = 3.0
    f = schedules.wsd(peak, total_steps=1000, warmup_steps=100, cooldown_fraction=0.2, shape=shape)
    expected = {0: 0.0, 50: 1.5, 100: peak, 450: peak, 799: peak}
    expected.update({800 + int(200 * x): peak * v for x, v in zip(XS, SHAPE_VALUES[shape])})
    expected[3000] = 0.0
    assert_values(f, expected, atol=1e-6)
    assert non_increasing(f, 100, 1200)
    assert np.all(np.diff(values(f, range(0, 101))) > 0)  # the warmup rises


def test_wsd_end_value():
    f = schedules.wsd(1.0, 100, 0, cooldown_fraction=0.5, shape="linear", end_value=0.1)
    assert_values(f, {0: 1.0, 50: 1.0, 75: 0.55, 100: 0.1, 400: 0.1})


def test_wsd_branch_start_by_hand():
    assert schedules.wsd_branch_start(1000, 0.2) == 800
    assert schedules.wsd_branch_start(3000, 0.1) == 2700
    assert schedules.wsd_branch_start(10, 0.25) == 8  # 10 - round(2.5) = 10 - 2
    assert schedules.wsd_branch_start(10, 0.0) == 10


def test_wsd_branches_share_the_constant_run():
    short = schedules.wsd(1.0, total_steps=1000, warmup_steps=50, cooldown_fraction=0.2)
    long = schedules.wsd(1.0, total_steps=2500, warmup_steps=50, cooldown_fraction=0.2)
    branch = schedules.wsd_branch_start(1000, 0.2)
    shared = range(0, branch + 1)  # at the branch step itself both are still at the peak
    np.testing.assert_array_equal(values(short, shared), values(long, shared))
    assert float(short(branch + 100)) < float(long(branch + 100)) == 1.0


def test_wsd_rejects_a_cooldown_inside_the_warmup():
    with pytest.raises(ValueError, match="inside the warmup"):
        schedules.wsd(1.0, total_steps=100, warmup_steps=60, cooldown_fraction=0.5)


# ---------------------------------------------------------------------------------------------
# REX
# ---------------------------------------------------------------------------------------------


def test_rex_by_hand():
    # (1 - p)/(1 - p/2) at p = 0, .25, .5, .75, .9, 1 (REFERENCES.md): 1, 6/7, 2/3, 2/5, 2/11, 0
    f = schedules.rex(2.0, total_steps=1000)
    assert_values(f, {0: 2.0, 250: 12 / 7, 500: 4 / 3, 750: 0.8, 900: 4 / 11, 1000: 0.0,
                      1200: 0.0})
    assert non_increasing(f, 0, 1100)


def test_rex_with_warmup_and_end_value():
    f = schedules.rex(1.0, total_steps=1100, warmup_steps=100, end_value=0.1)
    # p = (t - 100)/1000; at t = 600, p = .5: 0.1 + 0.9 * 2/3 = 0.7
    assert_values(f, {0: 0.0, 50: 0.5, 100: 1.0, 600: 0.7, 1100: 0.1})


# ---------------------------------------------------------------------------------------------
# Power scheduler
# ---------------------------------------------------------------------------------------------


def test_power_amplitude_by_hand():
    # batch 10, b = -1/2: 10 a n^(-1/2) = 0.1 at n = 2500 when a = 0.1 * 50 / 10 = 0.5
    assert schedules.power_amplitude(0.1, -0.5, 10, 2500) == pytest.approx(0.5)


def test_power_by_hand():
    # peak 0.1, batch 10, a = 0.5, b = -1/2: lr_power(n) = min(0.1, 5 / sqrt(n)), n = 10 t.
    # T = 10000, W = 100, decay over the last 10%: from step 9000, lr_power(90000) = 5/300.
    f = schedules.power(0.1, amplitude=0.5, exponent=-0.5, batch_size=10, total_steps=10_000,
                        warmup_steps=100, decay_fraction=0.1, shape="exponential")
    start = 5 / 300
    assert_values(f, {
        0: 0.0,
        50: 0.05,          # half the warmup of lr_power(1000) = min(0.1, 0.158) = 0.1
        100: 0.1,
        250: 0.1,          # the crossover: 5 / sqrt(2500) = 0.1
        1000: 0.05,        # 5 / sqrt(10^4)
        4000: 0.025,       # 5 / sqrt(4 10^4)
        8999: 5 / math.sqrt(89_990),
        9000: start,
        9500: start * (math.exp(0.5) - 1) / (math.e - 1),
        10_000: 0.0,
        12_000: 0.0,
    })
    assert non_increasing(f, 100, 10_100)


def test_power_below_the_cap_at_the_end_of_warmup():
    # a small amplitude: lr_power(W batch) = 10 * 0.01 / sqrt(1000) < peak; the warmup ends there
    f = schedules.power(1.0, amplitude=0.01, exponent=-0.5, batch_size=10, total_steps=1000,
                        warmup_steps=100, decay_fraction=0.0)
    top = 0.1 / math.sqrt(1000)
    assert_values(f, {50: top / 2, 100: top, 400: 0.1 / math.sqrt(4000)})


# ---------------------------------------------------------------------------------------------
# Infinite schedule
# ---------------------------------------------------------------------------------------------


def infinite_example(total_steps=1000):
    # peak 1, constant 0.5, end 0.05; warmup 100, cooldown 200 (to step 300), anneal last 100
    return schedules.infinite(1.0, constant_value=0.5, end_value=0.05, total_steps=total_steps,
                              warmup_steps=100, cooldown_steps=200, anneal_steps=100)


def test_infinite_by_hand():
    f = infinite_example()
    assert_values(f, {
        0: 0.0, 50: 0.5, 100: 1.0,
        200: 0.75,                   # cosine midpoint: 0.5 + 0.5 * (1 + cos(pi/2)) / 2
        300: 0.5, 600: 0.5, 899: 0.5, 900: 0.5,
        950: 0.5 * math.sqrt(0.1),   # 0.5 * (0.05/0.5)^(1/2)
        1000: 0.05, 5000: 0.05,
    })
    assert non_increasing(f, 100, 1100)


def test_infinite_branches_share_the_constant_phase():
    short, long = infinite_example(1000), infinite_example(3000)
    shared = range(0, 901)
    np.testing.assert_array_equal(values(short, shared), values(long, shared))
    assert float(short(950)) < float(long(950)) == 0.5


def test_infinite_rejects_phases_that_do_not_fit():
    with pytest.raises(ValueError, match="fit"):
        schedules.infinite(1.0, 0.5, 0.05, total_steps=100, warmup_steps=10, cooldown_steps=60,
                           anneal_steps=40)


# ---------------------------------------------------------------------------------------------
# Every schedule is a jit-able function of a traced step
# ---------------------------------------------------------------------------------------------

ALL_SCHEDULES = {
    "warmup_cosine": schedules.warmup_cosine(1.0, 200, 20),
    "warmup_linear": schedules.warmup_linear(1.0, 200, 20),
    "wsd": schedules.wsd(1.0, 200, 20, 0.2, "cosine"),
    "rex": schedules.rex(1.0, 200, 20),
    "power": schedules.power(1.0, 0.05, -0.5, 8, 200, 20, 0.1),
    "infinite": schedules.infinite(1.0, 0.5, 0.1, 200, 20, 40, 20),
}


@pytest.mark.parametrize("name", sorted(ALL_SCHEDULES))
def test_schedule_jits_to_the_same_values(name):
    schedule = ALL_SCHEDULES[name]
    steps = jnp.arange(0, 240, 7, dtype=jnp.int32)
    jitted = jax.jit(jax.vmap(schedule))(steps)
    one_by_one = [float(schedule(int(step))) for step in steps]  # eager, Python int steps
    np.testing.assert_allclose(np.asarray(jitted), one_by_one, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# Submissions
# ---------------------------------------------------------------------------------------------

SCHEDULE_SUBMISSIONS = ["nadamw_wsd", "nadamw_rex", "nadamw_power", "nadamw_infinite"]


@pytest.mark.parametrize("name", SCHEDULE_SUBMISSIONS)
def test_submission_loads_with_a_valid_search_space(name):
    submission = registry.get_submission(name)
    assert submission.summary.startswith("NadamW with")
    space = load_search_space(submission.search_space_path)
    space.check_names(submission.default_hparams)
    for point in space.sample(3, seed=0):
        assert set(point) <= set(submission.default_hparams)


# The TinyRegression workload with a 10-step hint, so that a 12-step run covers each schedule
# from its warmup to its end; the expected rates are the formulas with the steps worked out by
# hand from the hyperparameters (warmup_factor 0.2 of 10 steps = 2 warmup steps).
PEAK = 0.01
TINY_HPARAMS = {
    "nadamw_wsd": dict(learning_rate=PEAK, warmup_factor=0.2, cooldown_fraction=0.5,
                       cooldown_shape="linear"),
    "nadamw_rex": dict(learning_rate=PEAK, warmup_factor=0.2),
    "nadamw_power": dict(learning_rate=PEAK, warmup_factor=0.2, power_exponent=-0.5,
                         power_crossover_factor=0.4, decay_fraction=0.2, decay_shape="linear"),
    "nadamw_infinite": dict(learning_rate=PEAK, warmup_factor=0.2, constant_ratio=0.5,
                            min_ratio=0.1, cooldown_factor=0.2, anneal_fraction=0.2),
}
# learning rate applied by updates 1..12 (the schedule at steps 0..11)
EXPECTED_RATES = {
    # warmup 0, .5; constant to step 5; linear cooldown over 5 steps: 1, .8, .6, .4, .2; then 0
    "nadamw_wsd": [0, 0.5, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2, 0, 0],
    # p = (t - 2)/8: (1 - p)/(1 - p/2) = (8 - k)/(8 - k/2) for k = t - 2
    "nadamw_rex": [0, 0.5] + [(8 - k) / (8 - k / 2) for k in range(8)] + [0, 0],
    # crossover after 4 steps: (t/4)^(-1/2) from t = 4; decay from 8 (2 steps) from (8/4)^(-1/2)
    "nadamw_power": [0, 0.5, 1, 1, 1, (5 / 4) ** -0.5, (6 / 4) ** -0.5, (7 / 4) ** -0.5,
                     2 ** -0.5, 0.5 * 2 ** -0.5, 0, 0],
    # warmup 2, cosine to 0.5 over 2 steps (0.75 midway), constant, anneal over steps 8..10
    "nadamw_infinite": [0, 0.5, 1, 0.75, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5 * 0.2 ** 0.5, 0.1, 0.1],
}


@pytest.mark.parametrize("name", SCHEDULE_SUBMISSIONS)
def test_submission_trains_and_logs_its_schedule(name):
    submission = registry.get_submission(name)
    hparams = {**submission.default_hparams, **TINY_HPARAMS[name]}
    settings = ProtocolSettings(max_steps=12, eval_period=1e6, evaluate_test=False)
    result = run_trial(TinyRegression(target=-1.0, step_hint=10), submission, hparams,
                       settings=settings)
    assert result.outcome == Outcome.BUDGET, result.message
    assert result.steps == 12
    curve = result.train_curve
    assert curve["step"] == list(range(1, 13))
    np.testing.assert_allclose(curve["learning_rate"], PEAK * np.array(EXPECTED_RATES[name]),
                               rtol=1e-5, atol=1e-9)
    assert all(math.isfinite(loss) for loss in curve["loss"])


def test_wsd_submission_budgets_are_branches():
    submission = registry.get_submission("nadamw_wsd")
    info = TinyRegression(step_hint=1000).info({"w": jnp.zeros(4)})
    make_schedule = sys.modules[submission.make_optimizer.__module__].make_schedule
    short = make_schedule({**submission.default_hparams, "budget_factor": 0.5}, info)
    full = make_schedule(submission.default_hparams, info)
    branch = schedules.wsd_branch_start(500, submission.default_hparams["cooldown_fraction"])
    assert branch == 400
    steps = range(0, branch + 1)
    np.testing.assert_array_equal(values(short, steps), values(full, steps))
    assert float(short(450)) < float(full(450))
