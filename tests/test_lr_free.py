"""Learning-rate-free methods against plain-numpy references written from each paper's update
rule (with the authors' packages' choices where the paper leaves them open), the measured
differences from optax.contrib, and the six submissions end to end on the tiny workload."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bench import registry
from bench.optim.averaging import averaged_params, with_polynomial_averaging
from bench.optim.dadapt_adamw import dadapt_adamw
from bench.optim.dog import dog
from bench.optim.mechanic import mechanize
from bench.optim.prodigy import prodigy
from bench.optim.schedule_free import schedule_free_adamw, schedule_free_eval_params
from bench.protocol import ProtocolSettings
from bench.trial.loop import applied_learning_rate, run_trial
from bench.search_space import load_search_space
from bench.submission import load_hparams_file
from bench.workload import WorkloadInfo
from tests.conftest import TinyRegression

LR_FREE = ["prodigy", "dadapt_adamw", "dog", "mechanic", "schedule_free_adamw", "cocob"]

# A badly scaled quadratic f(x) = 1/2 x'Ax - b'x whose solution is far from x0 (distance ~3),
# so that the distance estimates of Prodigy, D-Adaptation and DoG have room to grow.
A = np.diag([1.0, 4.0, 0.25, 2.0])
B = np.array([1.0, -6.0, 0.5, 3.0])
X0 = np.array([0.1, -0.2, 0.3, 0.05])


def quadratic_grad(x):
    return A @ x - B


@pytest.fixture
def x64():
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", False)


def run_ours(optimizer, steps, x0=X0, grad_fn=quadratic_grad):
    """Iterates x_1..x_steps of `optimizer` on grad_fn, and the final state."""
    params = jnp.asarray(x0)
    state = optimizer.init(params)
    trajectory = []
    for _ in range(steps):
        grads = jnp.asarray(grad_fn(np.asarray(params)))
        updates, state = optimizer.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        trajectory.append(np.asarray(params))
    return np.array(trajectory), state


def sign_step(x0, g, size):
    return x0 - size * np.sign(g)


# --------------------------------------------------------------------------------------------
# Prodigy (Mishchenko & Defazio, arXiv 2306.06101)
# --------------------------------------------------------------------------------------------


def numpy_prodigy(steps, lr=1.0, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, d0=1e-6, d_coef=1.0,
                  bias_correction=False):
    """Prodigy's Adam version: the paper's (1 - sqrt(beta2)) factors on r and s cancel in
    r / ||s||_1, the package's d / d0 factor likewise; eps is scaled by the new d."""
    beta3 = np.sqrt(b2)
    x = X0.copy()
    m, v, s = np.zeros(4), np.zeros(4), np.zeros(4)
    r, d = 0.0, d0
    trajectory, ds = [], []
    for k in range(steps):
        g = quadratic_grad(x)
        c = np.sqrt(1 - b2 ** (k + 1)) / (1 - b1 ** (k + 1)) if bias_correction else 1.0
        dlr = d * lr * c
        m = b1 * m + (1 - b1) * d * g
        v = b2 * v + (1 - b2) * d * d * g * g
        r = beta3 * r + (d / d0) * dlr * g @ (X0 - x)
        s = beta3 * s + (d / d0) * dlr * g
        d = max(d, d_coef * r / np.abs(s).sum())
        x = x - dlr * wd * x - dlr * m / (np.sqrt(v) + d * eps)
        trajectory.append(x.copy())
        ds.append(d)
    return np.array(trajectory), np.array(ds)


def test_prodigy_first_step_by_hand_and_optax_differs(x64):
    # k = 0: r = <g, x0 - x0> = 0 so d stays d0; m = 0.1 d0 g, v = 0.001 d0^2 g^2, so with eps = 0
    # x1 = x0 - d0 * 0.1 / sqrt(0.001) * sign(g) = x0 - 3.1623e-6 sign(g). optax.contrib.prodigy
    # bias-corrects (factor sqrt(0.001) / 0.1): x1 = x0 - d0 sign(g), about 3x smaller.
    g = quadratic_grad(X0)
    (ours,), _ = run_ours(prodigy(eps=0.0), 1)
    np.testing.assert_allclose(ours, sign_step(X0, g, 1e-6 * 0.1 / np.sqrt(0.001)), rtol=1e-12)
    (theirs,), _ = run_ours(optax.contrib.prodigy(eps=0.0), 1)
    np.testing.assert_allclose(theirs, sign_step(X0, g, 1e-6), rtol=1e-12)


def test_prodigy_matches_numpy_reference(x64):
    ours, state = run_ours(prodigy(weight_decay=0.01), 25)
    reference, ds = numpy_prodigy(25, wd=0.01)
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12)
    assert float(state.d) == pytest.approx(ds[-1], rel=1e-10)
    assert ds[-1] > 1e3 * 1e-6  # the estimate grew: the comparison exercised d's update
    # the logged step size is dlr of the last update, d_24 * lr
    assert float(applied_learning_rate(state)) == pytest.approx(ds[-2], rel=1e-6)  # float32 log


def test_prodigy_with_bias_correction_equals_optax(x64):
    # With the bias correction switched on (and no weight decay) both follow the same rule.
    ours, _ = run_ours(prodigy(use_bias_correction=True), 10)
    theirs, _ = run_ours(optax.contrib.prodigy(), 10)
    reference, _ = numpy_prodigy(10, bias_correction=True)
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(theirs, reference, rtol=1e-9, atol=1e-12)


def test_prodigy_zero_multiplier_step_changes_nothing(x64):
    # The package skips every statistic when lr = 0 (e.g. the first step of a warmup from 0).
    schedule = lambda count: jnp.where(count == 0, 0.0, 1.0)  # noqa: E731
    ours, state = run_ours(prodigy(learning_rate=schedule), 4)
    np.testing.assert_array_equal(ours[0], X0)
    reference, _ = numpy_prodigy(3)
    np.testing.assert_allclose(ours[1:], reference, rtol=1e-9, atol=1e-12)
    assert int(state.count) == 4 and int(state.k) == 3


# --------------------------------------------------------------------------------------------
# D-Adaptation, Adam version (Defazio & Mishchenko, arXiv 2301.07733)
# --------------------------------------------------------------------------------------------


def numpy_dadapt_adamw(steps, lr=1.0, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, d0=1e-6):
    """D-Adapt Adam as in the paper's algorithm: the step size d lr sits inside m and s."""
    sb2 = np.sqrt(b2)
    x = X0.copy()
    m, v, s = np.zeros(4), np.zeros(4), np.zeros(4)
    r, d = 0.0, d0
    trajectory, ds = [], []
    for _ in range(steps):
        g = quadratic_grad(x)
        dlr = d * lr
        acquired = dlr * g @ (s / (np.sqrt(v) + eps))  # uses s_k and A_k
        m = b1 * m + (1 - b1) * dlr * g
        v = b2 * v + (1 - b2) * g * g
        s = sb2 * s + (1 - sb2) * dlr * g
        r = sb2 * r + (1 - sb2) * acquired
        d = max(d, r / ((1 - sb2) * np.abs(s).sum()))
        x = x - dlr * wd * x - m / (np.sqrt(v) + eps)
        trajectory.append(x.copy())
        ds.append(d)
    return np.array(trajectory), np.array(ds)


def test_dadapt_first_step_by_hand_and_optax_differs(x64):
    # k = 0: s = 0 so d stays d0; x1 = x0 - 0.1 d0 g / sqrt(0.001 g^2) = x0 - 3.1623e-6 sign(g).
    # optax.contrib.dadapt_adamw bias-corrects dlr: x1 = x0 - d0 sign(g).
    g = quadratic_grad(X0)
    (ours,), _ = run_ours(dadapt_adamw(eps=0.0), 1)
    np.testing.assert_allclose(ours, sign_step(X0, g, 1e-6 * 0.1 / np.sqrt(0.001)), rtol=1e-12)
    (theirs,), _ = run_ours(optax.contrib.dadapt_adamw(eps=0.0), 1)
    np.testing.assert_allclose(theirs, sign_step(X0, g, 1e-6), rtol=1e-12)


def test_dadapt_matches_numpy_reference(x64):
    ours, state = run_ours(dadapt_adamw(weight_decay=0.01), 40)
    reference, ds = numpy_dadapt_adamw(40, wd=0.01)
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12)
    assert float(state.d) == pytest.approx(ds[-1], rel=1e-10)
    assert ds[-1] > 100 * 1e-6


def test_dadapt_coupled_weight_decay_enters_the_gradient(x64):
    # decouple=False (the package's default) is Adam on f + wd/2 ||x||^2.
    wd = 0.05
    ours, _ = run_ours(dadapt_adamw(weight_decay=wd, decouple=False), 5)
    plain, _ = run_ours(dadapt_adamw(), 5, grad_fn=lambda x: quadratic_grad(x) + wd * x)
    np.testing.assert_allclose(ours, plain, rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Schedule-Free AdamW (Defazio et al., arXiv 2405.15682)
# --------------------------------------------------------------------------------------------


def numpy_schedule_free_adamw(steps, lr=0.0025, warmup=0, b1=0.9, b2=0.999, eps=1e-8, wd=0.0,
                              r=0.0, power=2.0):
    """The paper's Algorithm 1 with its three explicit sequences; returns (y, x) per step."""
    z, x, y = X0.copy(), X0.copy(), X0.copy()
    v = np.zeros(4)
    lr_max, weight_sum = 0.0, 0.0
    ys, xs = [], []
    for k in range(steps):
        g = quadratic_grad(y)
        lr_k = lr * min(1.0, (k + 1) / warmup) if warmup else lr
        lr_max = max(lr_max, lr_k)
        weight = (k + 1) ** r * lr_max**power
        weight_sum += weight
        c = weight / weight_sum
        v = b2 * v + (1 - b2) * g * g
        z = z - lr_k * (g / (np.sqrt(v / (1 - b2 ** (k + 1))) + eps) + wd * y)
        x = (1 - c) * x + c * z
        y = b1 * x + (1 - b1) * z
        ys.append(y.copy())
        xs.append(x.copy())
    return np.array(ys), np.array(xs)


def test_schedule_free_matches_numpy_reference_and_evaluates_at_x(x64):
    kwargs = dict(learning_rate=0.05, warmup_steps=5, b1=0.9, b2=0.99, weight_decay=0.1, r=0.75)
    ours, state = run_ours(schedule_free_adamw(**kwargs), 12)
    ys, xs = numpy_schedule_free_adamw(12, lr=0.05, warmup=5, b2=0.99, wd=0.1, r=0.75)
    np.testing.assert_allclose(ours, ys, rtol=1e-9, atol=1e-12)
    x_eval = schedule_free_eval_params(jnp.asarray(ours[-1]), state)
    np.testing.assert_allclose(np.asarray(x_eval), xs[-1], rtol=1e-9, atol=1e-12)
    assert float(applied_learning_rate(state)) == pytest.approx(0.05)


def test_schedule_free_warmup_first_step_and_optax_lag(x64):
    # k = 0: lr_0 = lr / W, v_hat = g^2, c = 1, so y1 = x1 = z1 = x0 - (lr / W) sign(g).
    # optax.contrib.schedule_free_adamw reads its inner warmup one step late: lr 0 at first.
    g = quadratic_grad(X0)
    (ours,), _ = run_ours(schedule_free_adamw(learning_rate=0.1, warmup_steps=4, eps=0.0), 1)
    np.testing.assert_allclose(ours, sign_step(X0, g, 0.1 / 4), rtol=1e-12)
    (theirs,), _ = run_ours(optax.contrib.schedule_free_adamw(0.1, warmup_steps=4, eps=0.0), 1)
    np.testing.assert_array_equal(theirs, X0)


def test_schedule_free_without_warmup_moves_where_optax_warmup_zero_does_not(x64):
    ours, _ = run_ours(schedule_free_adamw(learning_rate=0.1, warmup_steps=0), 3)
    ys, _ = numpy_schedule_free_adamw(3, lr=0.1)
    np.testing.assert_allclose(ours, ys, rtol=1e-10)
    theirs, _ = run_ours(optax.contrib.schedule_free_adamw(0.1, warmup_steps=0), 3)
    np.testing.assert_allclose(theirs[-1], X0, atol=1e-15)  # optax: warmup_steps=0 stays at lr 0
    unwarmed, _ = run_ours(optax.contrib.schedule_free_adamw(0.1), 3)  # optax without warmup
    np.testing.assert_allclose(unwarmed, ys, rtol=1e-10)


# --------------------------------------------------------------------------------------------
# Mechanic (Cutkosky, Defazio & Mehta, arXiv 2306.00144)
# --------------------------------------------------------------------------------------------

BETAS = np.array([0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999])


def numpy_mechanic(steps, base_lr, s_decay=0.01, s_init=1e-8, eps=1e-8, optax_rule=False,
                   store_delta=False):
    """Mechanic (the paper's Algorithm 1, with the package's choices: s = 0 and m = 1e-6 at the
    start, the decay term at the point after the base step) around SGD with `base_lr`.
    store_delta: keep Delta instead of recovering it as (x - x0) / (S + eps).
    optax_rule=True: optax's variant (h clipped to [-m, m] in r, s = s_init and m = 0 at the
    start, m = max(beta m, |h| + eps), the decay term at x_k)."""
    n = len(BETAS)
    x = X0.copy()
    s = np.full(n, s_init if optax_rule else 0.0)
    m = np.full(n, 0.0 if optax_rule else 1e-6)
    v, r = np.zeros(n), np.zeros(n)
    stored = np.zeros(4)
    trajectory, scales = [], []
    for _ in range(steps):
        g = quadratic_grad(x)
        scale = s.sum()
        delta = stored if store_delta else (x - X0) / (scale + eps)
        u = -base_lr * g
        at = x if optax_rule else x + u
        h = delta @ (g + s_decay * scale * np.linalg.norm(g) / (np.linalg.norm(at) + eps) * at)
        delta = stored = delta + u
        clipped = np.clip(h, -m, m) if optax_rule else h
        m = np.maximum(BETAS * m, np.abs(h) + (eps if optax_rule else 0.0))
        v = BETAS**2 * v + h * h
        r = np.maximum(BETAS * r - s * clipped, 0.0)
        s = (s_init * m / n + r) / (np.sqrt(v) + eps)
        x = X0 + max(s.sum(), 0.0) * delta
        trajectory.append(x.copy())
        scales.append(s.sum())
    return np.array(trajectory), np.array(scales)


def test_mechanic_matches_numpy_reference(x64):
    ours, state = run_ours(mechanize(optax.sgd(0.1)), 60)
    reference, scales = numpy_mechanic(60, 0.1)
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12)
    assert scales[-1] > 1e-2  # the scale grew from 0 by orders of magnitude
    assert float(applied_learning_rate(state)) == pytest.approx(scales[-1], rel=1e-6)


def test_mechanic_store_delta_matches_numpy_reference(x64):
    # Recovering Delta divides by S + eps with S ~ 1e-8 early on, so the two forms differ.
    stored, _ = run_ours(mechanize(optax.sgd(0.1), store_delta=True), 30)
    reference, _ = numpy_mechanic(30, 0.1, store_delta=True)
    np.testing.assert_allclose(stored, reference, rtol=1e-9, atol=1e-12)
    recovered, _ = numpy_mechanic(30, 0.1)
    assert np.abs(reference - recovered).max() > 1e-6


def test_optax_mechanize_is_the_clipped_variant_and_drifts(x64):
    # The cause of optax's drift from the package: the numpy rule with optax's changes
    # reproduces optax.contrib.mechanize, and the package's rule ends up far from it.
    theirs, _ = run_ours(optax.contrib.mechanize(optax.sgd(0.1), s_init=1e-8), 60)
    model, _ = numpy_mechanic(60, 0.1, optax_rule=True)
    np.testing.assert_allclose(theirs, model, rtol=1e-9, atol=1e-12)
    package, _ = numpy_mechanic(60, 0.1)
    assert np.abs(theirs[-1] - package[-1]).max() > 1e-2


# --------------------------------------------------------------------------------------------
# DoG (Ivgi, Hinder & Carmon, arXiv 2302.12022) and polynomial-decay averaging
# --------------------------------------------------------------------------------------------


def numpy_dog(steps, c=1.0, reps_rel=1e-6, eps=1e-8, wd=0.0, gamma=8.0):
    """DoG's step eta_t = max_i<=t ||x_i - x0|| / sqrt(sum_i<=t ||g_i||^2), r_eps = reps_rel
    (1 + ||x0||); with the polynomial-decay average of the iterates (Shamir & Zhang)."""
    x = X0.copy()
    rbar, total = reps_rel * (1 + np.linalg.norm(X0)), eps
    average = X0.copy()
    trajectory, averages, etas = [], [], []
    for t in range(1, steps + 1):
        g = quadratic_grad(x) + wd * x
        rbar = max(rbar, np.linalg.norm(x - X0))
        total += g @ g
        eta = c * rbar / np.sqrt(total)
        x = x - eta * g
        weight = (1 + gamma) / (t + gamma)
        average = (1 - weight) * average + weight * x
        trajectory.append(x.copy())
        averages.append(average.copy())
        etas.append(eta)
    return np.array(trajectory), np.array(averages), np.array(etas)


def test_dog_with_averaging_matches_numpy_reference(x64):
    ours, state = run_ours(with_polynomial_averaging(dog(weight_decay=0.01), gamma=8.0), 30)
    trajectory, averages, etas = numpy_dog(30, wd=0.01)
    np.testing.assert_allclose(ours, trajectory, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(averaged_params(state)), averages[-1], rtol=1e-10)
    assert float(applied_learning_rate(state)) == pytest.approx(etas[-1], rel=1e-6)
    assert etas[-1] > 100 * etas[0]  # the distance estimate grew


def test_dog_first_step_by_hand(x64):
    # eta_0 = reps_rel (1 + ||x0||) / sqrt(||g0||^2 + eps)
    g = quadratic_grad(X0)
    (ours,), _ = run_ours(dog(eps=0.0), 1)
    eta = 1e-6 * (1 + np.linalg.norm(X0)) / np.linalg.norm(g)
    np.testing.assert_allclose(ours, X0 - eta * g, rtol=1e-12)


# --------------------------------------------------------------------------------------------
# COCOB-Backprop (Orabona & Tommasi, arXiv 1705.07795, Algorithm 2)
# --------------------------------------------------------------------------------------------


def numpy_cocob(steps, alpha=100.0, eps=1e-8):
    """COCOB-Backprop per coordinate; L starts at eps as in the authors' code."""
    w = X0.copy()
    L, G, reward, theta = np.full(4, eps), np.zeros(4), np.zeros(4), np.zeros(4)
    trajectory = []
    for _ in range(steps):
        g = quadratic_grad(w)
        L = np.maximum(L, np.abs(g))
        G = G + np.abs(g)
        reward = np.maximum(reward - g * (w - X0), 0.0)
        theta = theta - g
        w = X0 + theta / (L * np.maximum(G + L, alpha * L)) * (L + reward)
        trajectory.append(w.copy())
    return np.array(trajectory)


def test_cocob_submission_matches_numpy_reference(x64):
    submission = registry.get_submission("cocob")
    optimizer = submission.make_optimizer(dict(submission.default_hparams), info())
    ours, _ = run_ours(optimizer, 20)
    np.testing.assert_allclose(ours, numpy_cocob(20), rtol=1e-9, atol=1e-12)
    # first step by hand: w1 = w1 - g / (|g| * 100 |g|) * |g| = x0 - sign(g) / 100
    np.testing.assert_allclose(ours[0], sign_step(X0, quadratic_grad(X0), 0.01), rtol=1e-6)


# --------------------------------------------------------------------------------------------
# The submissions
# --------------------------------------------------------------------------------------------


def info(step_hint=100):
    return WorkloadInfo(name="t", tier="cpu", step_hint=step_hint, batch_size=16,
                        max_runtime=1.0, num_train_examples=256, param_shapes={})


@pytest.mark.parametrize("name", LR_FREE)
def test_submission_files_are_consistent(name):
    submission = registry.get_submission(name)
    defaults = submission.default_hparams
    space = load_search_space(submission.search_space_path)
    assert set(space.names) <= set(defaults)
    calibrated = load_hparams_file(submission.path.parent / "calibrated.json")
    assert set(calibrated) <= set(defaults) and calibrated
    readme = (submission.path.parent / "README.md").read_text()
    assert "arXiv" in readme and "calibrated.json" in readme


@pytest.mark.parametrize("name", LR_FREE)
def test_calibrated_point_builds_and_steps(name):
    submission = registry.get_submission(name)
    calibrated = json.loads((submission.path.parent / "calibrated.json").read_text())
    optimizer = submission.make_optimizer({**submission.default_hparams, **calibrated}, info())
    params = {"w": jnp.ones(3), "b": jnp.zeros(())}
    state = optimizer.init(params)
    update = jax.jit(optimizer.update)
    for _ in range(3):
        updates, state = update({"w": jnp.ones(3), "b": jnp.ones(())}, state, params)
        params = optax.apply_updates(params, updates)
    assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(params))
    if submission.eval_params is not None:
        evaluated = submission.eval_params(params, state)
        assert jax.tree.structure(evaluated) == jax.tree.structure(params)


@pytest.mark.parametrize("name", LR_FREE)
def test_submission_trains_tiny_regression(name):
    submission = registry.get_submission(name)
    workload = TinyRegression(target=1e-9)
    settings = ProtocolSettings(max_steps=20, eval_every_steps=10, evaluate_test=False)
    result = run_trial(workload, submission, dict(submission.default_hparams), settings=settings)
    assert result.outcome.value == "budget", result.message
    assert result.steps == 20
    losses = [evaluation["validation/loss"] for evaluation in result.evals]
    assert len(losses) == 3 and np.isfinite(losses).all()
