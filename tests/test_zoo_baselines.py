"""Baselines (adamw, sgd_nesterov, lamb, lars) and Lion: each submission's optimizer, schedule
included, against numpy test vectors written from the papers' update rules; and every zoo
submission (these and tvlars) loading, validating its search space and training."""

import math

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bench import registry
from bench.protocol import ProtocolSettings
from bench.trial.loop import applied_learning_rate, run_trial
from bench.search_space import load_search_space
from bench.workload import WorkloadInfo
from tests.conftest import TinyRegression

ZOO = ["adamw", "sgd_nesterov", "lamb", "lars", "lion", "tvlars"]

# A 2x2 "kernel" (adapted by the layer-wise methods) and a rank-1 "bias"; four steps of
# gradients chosen so that coordinates change sign.
KERNEL0 = np.array([[1.0, -0.5], [0.25, 2.0]])
BIAS0 = np.array([0.3, -0.2])
GRADS = [
    {"kernel": np.array([[0.5, -1.0], [2.0, 0.1]]), "bias": np.array([0.2, -0.4])},
    {"kernel": np.array([[-0.6, 0.3], [-0.7, 0.2]]), "bias": np.array([-0.3, 0.1])},
    {"kernel": np.array([[-0.4, 0.2], [0.05, -0.3]]), "bias": np.array([0.5, 0.05])},
    {"kernel": np.array([[0.9, -0.1], [-0.2, 0.6]]), "bias": np.array([-0.1, -0.6])},
]


def workload_info(step_hint):
    return WorkloadInfo(name="t", tier="cpu", step_hint=step_hint, batch_size=1, max_runtime=1.0,
                        num_train_examples=1, param_shapes={})


def run_submission(name, step_hint, grads=GRADS, **overrides):
    """Apply `grads` with the submission's optimizer; the parameters after each update and the
    learning rate each update applied (as the runner logs it)."""
    submission = registry.get_submission(name)
    hparams = dict(submission.default_hparams, **overrides)
    optimizer = submission.make_optimizer(hparams, workload_info(step_hint))
    params = {"kernel": jnp.asarray(KERNEL0, jnp.float32), "bias": jnp.asarray(BIAS0, jnp.float32)}
    state = optimizer.init(params)
    trajectory, rates = [], []
    for g in grads:
        g = {key: jnp.asarray(value, jnp.float32) for key, value in g.items()}
        updates, state = optimizer.update(g, state, params)
        params = optax.apply_updates(params, updates)
        trajectory.append({key: np.asarray(value) for key, value in params.items()})
        rates.append(float(applied_learning_rate(state)))
    return trajectory, rates


def assert_trajectories_close(ours, expected, rtol=1e-5, atol=1e-7):
    for step, (a, e) in enumerate(zip(ours, expected, strict=True), start=1):
        for key in e:
            np.testing.assert_allclose(a[key], e[key], rtol=rtol, atol=atol,
                                       err_msg=f"{key}, step {step}")


def warmup_cosine_rate(t, peak, warmup, total):
    """Linear 0 -> peak over `warmup` steps, cosine to 0 at `total` (written from the formula)."""
    if t < warmup:
        return peak * t / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * min(t - warmup, total - warmup) / (total - warmup)))


# ---------------------------------------------------------------------------- Lion

def numpy_lion(grads, rates, b1, b2, wd):
    """Chen et al. 2023, Program 1: c = b1 m + (1 - b1) g; theta -= lr (sign(c) + wd theta);
    m = b2 m + (1 - b2) g; on every tensor."""
    theta = {"kernel": KERNEL0.copy(), "bias": BIAS0.copy()}
    m = {key: np.zeros_like(value) for key, value in theta.items()}
    trajectory = []
    for g, lr in zip(grads, rates):
        for key in theta:
            c = b1 * m[key] + (1 - b1) * g[key]
            theta[key] = theta[key] - lr * (np.sign(c) + wd * theta[key])
            m[key] = b2 * m[key] + (1 - b2) * g[key]
        trajectory.append({key: value.copy() for key, value in theta.items()})
    return trajectory


def test_lion_first_update_moves_every_coordinate_by_lr_against_the_gradient_sign():
    # m_0 = 0, so c_1 = (1 - b1) g_1 and theta_1 = theta_0 - lr (sign(g_1) + wd theta_0)
    (after,), _ = run_submission("lion", 10, GRADS[:1], warmup_factor=0.0,
                                 learning_rate=0.01, weight_decay=0.5)
    expected = KERNEL0 - 0.01 * (np.sign(GRADS[0]["kernel"]) + 0.5 * KERNEL0)
    np.testing.assert_allclose(after["kernel"], expected, rtol=1e-6)


def test_lion_submission_matches_the_paper_with_its_schedule():
    peak, wd, step_hint = 0.01, 0.5, 10
    ours, rates = run_submission("lion", step_hint, learning_rate=peak, weight_decay=wd,
                                 warmup_factor=0.2)  # warmup 2 steps
    expected_rates = [warmup_cosine_rate(t, peak, 2, step_hint) for t in range(len(GRADS))]
    np.testing.assert_allclose(rates, expected_rates, rtol=1e-5, atol=1e-9)
    assert_trajectories_close(ours, numpy_lion(GRADS, expected_rates, 0.9, 0.99, wd))


def test_lion_betas_are_not_interchangeable():
    # the interpolation (b1) and the momentum (b2) coefficients play different roles
    rates = [warmup_cosine_rate(t, 0.01, 0, 10) for t in range(len(GRADS))]
    a = numpy_lion(GRADS, rates, 0.9, 0.99, 0.0)[-1]["kernel"]
    b = numpy_lion(GRADS, rates, 0.99, 0.9, 0.0)[-1]["kernel"]
    assert np.abs(a - b).max() > 1e-3
    ours, _ = run_submission("lion", 10, warmup_factor=0.0, learning_rate=0.01,
                             weight_decay=0.0, beta1=0.9, beta2=0.99)
    np.testing.assert_allclose(ours[-1]["kernel"], a, rtol=1e-5)


def test_lion_space_follows_the_papers_rule_against_adamw():
    """lr 3-10x smaller and weight decay 3-10x larger than AdamW's (Chen et al. 2023, sec. 5)."""
    lion, adamw = (
        {d.name: d for d in load_search_space(registry.get_submission(name).search_space_path)
         .dimensions}
        for name in ("lion", "adamw"))
    lion_lr, adamw_lr = lion["learning_rate"], adamw["learning_rate"]
    lion_wd, adamw_wd = lion["weight_decay"], adamw["weight_decay"]
    assert lion_lr.low == pytest.approx(adamw_lr.low / 10, rel=0.02)
    assert lion_lr.high == pytest.approx(adamw_lr.high / 3, rel=0.02)
    assert lion_wd.low == pytest.approx(adamw_wd.low * 3, rel=0.02)
    assert lion_wd.high == pytest.approx(adamw_wd.high * 10, rel=0.02)
    lion_defaults = registry.get_submission("lion").default_hparams
    adamw_defaults = registry.get_submission("adamw").default_hparams
    lr_factor = adamw_defaults["learning_rate"] / lion_defaults["learning_rate"]
    wd_factor = lion_defaults["weight_decay"] / adamw_defaults["weight_decay"]
    assert 3 <= lr_factor <= 10 and 3 <= wd_factor <= 10
    assert (lion_defaults["beta1"], lion_defaults["beta2"]) == (0.9, 0.99)


# ---------------------------------------------------------------------------- SGD + Nesterov

def sgd_schedule_rate(t, peak, warmup, decay, end_factor):
    """AlgoPerf's Nesterov schedule: linear warmup, linear decay over `decay` steps, constant."""
    if t < warmup:
        return peak * t / warmup
    return peak + (end_factor * peak - peak) * min(t - warmup, decay) / decay


def test_sgd_nesterov_schedule_is_algoperfs():
    # step hint 20, warmup int(0.1 * 20) = 2, decay int(0.5 * (20 - 2)) = 9 steps to 0.1 * peak
    _, rates = run_submission("sgd_nesterov", 20, [GRADS[0]] * 25, learning_rate=0.4,
                              warmup_factor=0.1, decay_steps_factor=0.5, end_factor=0.1)
    expected = [sgd_schedule_rate(t, 0.4, 2, 9, 0.1) for t in range(25)]
    np.testing.assert_allclose(rates, expected, rtol=1e-5, atol=1e-9)
    assert rates[1] == pytest.approx(0.2) and rates[11] == pytest.approx(0.04)
    assert rates[24] == pytest.approx(0.04)  # constant after the decay


def test_sgd_nesterov_matches_the_rule_with_l2_weight_decay():
    lr, beta, wd = 0.1, 0.8, 0.05
    ours, rates = run_submission("sgd_nesterov", 20, learning_rate=lr, one_minus_beta1=1 - beta,
                                 weight_decay=wd, warmup_factor=0.1, decay_steps_factor=0.5,
                                 end_factor=0.1)
    theta = {"kernel": KERNEL0.copy(), "bias": BIAS0.copy()}
    mu = {key: np.zeros_like(value) for key, value in theta.items()}
    expected = []
    for t, g in enumerate(GRADS):
        rate = sgd_schedule_rate(t, lr, 2, 9, 0.1)
        for key in theta:
            d = g[key] + wd * theta[key]  # L2: decay added to the gradient, before momentum
            mu[key] = beta * mu[key] + d
            theta[key] = theta[key] - rate * (d + beta * mu[key])  # Nesterov look-ahead
        expected.append({key: value.copy() for key, value in theta.items()})
    assert_trajectories_close(ours, expected)
    # decoupled decay (momentum on g alone, theta -= rate (g + beta mu + wd theta)) differs
    theta, mu = KERNEL0.copy(), np.zeros_like(KERNEL0)
    for t, g in enumerate(GRADS):
        mu = beta * mu + g["kernel"]
        theta = theta - sgd_schedule_rate(t, lr, 2, 9, 0.1) * (g["kernel"] + beta * mu
                                                                + wd * theta)
    assert np.abs(theta - ours[-1]["kernel"]).max() > 1e-4


# ---------------------------------------------------------------------------- AdamW, LAMB

def numpy_adam_directions(grads, b1, b2, eps):
    """Bias-corrected Adam directions m_hat / (sqrt(v_hat) + eps) per step (Kingma & Ba)."""
    m = {key: 0.0 for key in grads[0]}
    v = {key: 0.0 for key in grads[0]}
    for t, g in enumerate(grads, start=1):
        direction = {}
        for key in g:
            m[key] = b1 * m[key] + (1 - b1) * g[key]
            v[key] = b2 * v[key] + (1 - b2) * g[key] ** 2
            m_hat, v_hat = m[key] / (1 - b1**t), v[key] / (1 - b2**t)
            direction[key] = m_hat / (np.sqrt(v_hat) + eps)
        yield direction


def test_adamw_submission_matches_adam_with_decoupled_decay_and_schedule():
    peak, b1, b2, wd = 0.05, 0.8, 0.99, 0.1
    ours, rates = run_submission("adamw", 10, learning_rate=peak, one_minus_beta1=1 - b1,
                                 beta2=b2, weight_decay=wd, warmup_factor=0.2)
    theta = {"kernel": KERNEL0.copy(), "bias": BIAS0.copy()}
    expected = []
    for t, u in enumerate(numpy_adam_directions(GRADS, b1, b2, 1e-8)):
        rate = warmup_cosine_rate(t, peak, 2, 10)
        theta = {key: theta[key] - rate * (u[key] + wd * theta[key]) for key in theta}
        expected.append(theta)
    np.testing.assert_allclose(rates, [warmup_cosine_rate(t, peak, 2, 10) for t in range(4)],
                               rtol=1e-5, atol=1e-9)
    assert_trajectories_close(ours, expected)


def test_lamb_submission_matches_the_paper():
    peak, b1, b2, wd = 0.05, 0.9, 0.999, 0.01
    ours, _ = run_submission("lamb", 10, learning_rate=peak, one_minus_beta1=1 - b1, beta2=b2,
                             weight_decay=wd, warmup_factor=0.2)
    theta = {"kernel": KERNEL0.copy(), "bias": BIAS0.copy()}
    expected = []
    for t, u in enumerate(numpy_adam_directions(GRADS, b1, b2, 1e-8)):
        rate = warmup_cosine_rate(t, peak, 2, 10)
        new = {}
        for key in theta:
            r = u[key] + wd * theta[key]
            trust = np.linalg.norm(theta[key]) / np.linalg.norm(r)  # per tensor
            new[key] = theta[key] - rate * trust * r
        theta = new
        expected.append(theta)
    assert_trajectories_close(ours, expected)


# ---------------------------------------------------------------------------- LARS

def test_lars_submission_matches_the_paper_with_rank1_tensors_masked():
    peak, momentum, wd, eta, step_hint = 2.0, 0.9, 0.01, 0.001, 10
    ours, rates = run_submission("lars", step_hint, learning_rate=peak, momentum=momentum,
                                 weight_decay=wd, trust_coefficient=eta, warmup_factor=0.2)

    def rate_at(t):  # linear warmup over 2 steps, then peak (1 - (t - 2) / 8)^2
        return peak * t / 2 if t < 2 else peak * (1 - (t - 2) / (step_hint - 2)) ** 2

    np.testing.assert_allclose(rates, [rate_at(t) for t in range(4)], rtol=1e-5, atol=1e-9)
    w, b = KERNEL0.copy(), BIAS0.copy()
    mu_w, mu_b = np.zeros_like(w), np.zeros_like(b)
    expected = []
    for t, g in enumerate(GRADS):
        d = g["kernel"] + wd * w
        mu_w = momentum * mu_w + rate_at(t) * eta * np.linalg.norm(w) / np.linalg.norm(d) * d
        w = w - mu_w
        mu_b = momentum * mu_b + rate_at(t) * g["bias"]  # rank 1: no decay, no trust ratio
        b = b - mu_b
        expected.append({"kernel": w.copy(), "bias": b.copy()})
    assert_trajectories_close(ours, expected)


# ---------------------------------------------------------------------------- all of the zoo

@pytest.mark.parametrize("name", ZOO)
def test_submission_loads_and_its_search_space_fits(name):
    submission = registry.get_submission(name)
    assert submission.summary
    readme = (submission.path.parent / "README.md").read_text()
    assert "arXiv" in readme
    space = load_search_space(submission.search_space_path)
    space.check_names(submission.default_hparams, owner=name)
    for point in space.sample(4, seed=0):  # sampled points build an optimizer
        submission.make_optimizer({**submission.default_hparams, **point}, workload_info(100))


@pytest.mark.parametrize("name", ZOO)
def test_submission_trains_tiny_regression_and_logs_its_learning_rate(name):
    submission = registry.get_submission(name)
    result = run_trial(TinyRegression(target=-1.0, step_hint=20), submission,
                       dict(submission.default_hparams),
                       settings=ProtocolSettings(max_steps=5, eval_period=1e6))
    assert result.outcome.value == "budget", result.message
    assert result.steps == 5
    rates = result.train_curve["learning_rate"]
    assert rates and all(rate is not None and rate >= 0 for rate in rates)
    assert max(rates) > 0
    assert all(math.isfinite(loss) for loss in result.train_curve["loss"])

