"""TVLARS (Do et al., arXiv 2309.14053) against a numpy transcription of its update rule."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bench import registry
from bench.optim.tvlars import ScaleByTVLARSState, time_varying_factor, tvlars
from bench.trial.loop import applied_learning_rate
from bench.workload import WorkloadInfo

KERNEL0 = np.array([[1.0, -0.5], [0.25, 2.0]])
BIAS0 = np.array([0.3, -0.2])
GRADS = [
    {"kernel": np.array([[0.5, -1.0], [2.0, 0.1]]), "bias": np.array([0.2, -0.4])},
    {"kernel": np.array([[-0.6, 0.3], [-0.7, 0.2]]), "bias": np.array([-0.3, 0.1])},
    {"kernel": np.array([[-0.4, 0.2], [0.05, -0.3]]), "bias": np.array([0.5, 0.05])},
]


def numpy_tvlars(kernel, bias, grads, lr, wd, momentum, eta, lmbda, delay=0.0, floor=0.0):
    """The rule per tensor, t counted from 0: rank-2 tensors get d = g + wd w scaled by
    eta * clip(||w||, 0, 10) / clip(||d||, 0, 10) * phi(t); rank-1 tensors get g as it is."""
    w, b = kernel.copy(), bias.copy()
    mu_w, mu_b = np.zeros_like(w), np.zeros_like(b)
    trajectory = []
    for t, g in enumerate(grads):
        phi = 1.0 / (0.1 + np.exp(lmbda * (t + 1 - delay))) + floor
        d = g["kernel"] + wd * w
        w_norm, d_norm = min(np.linalg.norm(w), 10.0), min(np.linalg.norm(d), 10.0)
        ratio = eta * w_norm / d_norm * phi if w_norm > 0 and d_norm > 0 else 1.0
        mu_w = momentum * mu_w + ratio * d
        w = w - lr * mu_w
        mu_b = momentum * mu_b + g["bias"]
        b = b - lr * mu_b
        trajectory.append({"kernel": w.copy(), "bias": b.copy()})
    return trajectory


def run(optimizer, grads=GRADS, kernel=KERNEL0, bias=BIAS0):
    params = {"kernel": jnp.asarray(kernel, jnp.float32), "bias": jnp.asarray(bias, jnp.float32)}
    state = optimizer.init(params)
    update = jax.jit(optimizer.update)
    trajectory = []
    for g in grads:
        g = {key: jnp.asarray(value, jnp.float32) for key, value in g.items()}
        updates, state = update(g, state, params)
        params = optax.apply_updates(params, updates)
        trajectory.append({key: np.asarray(value) for key, value in params.items()})
    return trajectory, state


def assert_close(ours, expected, rtol=1e-5):
    for step, (a, e) in enumerate(zip(ours, expected, strict=True), start=1):
        for key in e:
            np.testing.assert_allclose(a[key], e[key], rtol=rtol, atol=1e-7,
                                       err_msg=f"{key}, step {step}")


def test_time_varying_factor_check_values():
    # phi(t) = 1 / (0.1 + exp(1e-3 (t + 1))) at t = 0, 100, 1000, 5000 (REFERENCES.md, TVLARS)
    values = [float(time_varying_factor(t, 1e-3)) for t in (0, 100, 1000, 5000)]
    np.testing.assert_allclose(values, [0.90826, 0.82900, 0.35448, 0.00673], atol=5e-6)


def test_time_varying_factor_delay_and_floor():
    # with a delay of d steps the factor at t = d - 1 is 1 / (0.1 + 1); the floor adds on
    assert float(time_varying_factor(99, 1e-2, delay_steps=100)) == pytest.approx(1 / 1.1)
    assert float(time_varying_factor(10**6, 1e-2, min_factor=0.05)) == pytest.approx(0.05)
    assert float(time_varying_factor(0, 0.0)) == pytest.approx(1 / 1.1)


def test_matches_numpy_reference_for_three_steps():
    # a large lambda makes phi change visibly between steps (0.9516, 0.9057, ... for 0.05)
    lr, wd, momentum, eta, lmbda = 2.0, 5e-4, 0.9, 1e-3, 0.05
    ours, state = run(tvlars(lr, wd, momentum, eta, lmbda))
    assert_close(ours, numpy_tvlars(KERNEL0, BIAS0, GRADS, lr, wd, momentum, eta, lmbda))
    assert int(state[0].count) == 3


def test_matches_numpy_reference_with_delay_and_floor():
    lr, wd, momentum, eta, lmbda = 0.5, 0.1, 0.8, 0.01, 0.3
    ours, _ = run(tvlars(lr, wd, momentum, eta, lmbda, delay_steps=2, min_factor=0.2))
    expected = numpy_tvlars(KERNEL0, BIAS0, GRADS, lr, wd, momentum, eta, lmbda, 2, 0.2)
    assert_close(ours, expected)


def test_rank1_tensors_get_plain_momentum_sgd_without_weight_decay():
    # a large weight decay would move the bias if it were applied; only the kernel feels it
    lr, momentum = 0.1, 0.9
    ours, _ = run(tvlars(lr, weight_decay=10.0, momentum=momentum, eta=1e-3, lmbda=1e-3))
    mu, b = np.zeros(2), BIAS0.copy()
    for step, g in enumerate(GRADS):
        mu = momentum * mu + g["bias"]
        b = b - lr * mu
        np.testing.assert_allclose(ours[step]["bias"], b, rtol=1e-6)
    scalar = {"s": jnp.asarray(1.5)}  # rank 0 counts as unadapted too
    updates, _ = tvlars(lr, weight_decay=10.0).update({"s": jnp.asarray(2.0)},
                                                      tvlars(lr).init(scalar), scalar)
    assert float(updates["s"]) == pytest.approx(-lr * 2.0)


def test_norms_are_clipped_at_ten():
    # ||w|| = 40 and ||d|| = 0.4: the ratio uses min(40, 10) = 10, not 40
    kernel = np.full((2, 2), 20.0)
    grads = [{"kernel": np.full((2, 2), 0.2), "bias": np.zeros(2)}]
    ours, _ = run(tvlars(1.0, weight_decay=0.0, momentum=0.0, eta=1e-3, lmbda=0.0),
                  grads, kernel=kernel)
    phi = 1 / 1.1
    np.testing.assert_allclose(ours[0]["kernel"], kernel - 1e-3 * 10 / 0.4 * phi * 0.2, rtol=1e-6)
    expected = numpy_tvlars(kernel, BIAS0, grads, 1.0, 0.0, 0.0, 1e-3, 0.0)
    assert_close(ours, expected)


def test_ratio_is_one_when_a_norm_is_zero():
    grads = [{"kernel": np.ones((2, 2)), "bias": np.zeros(2)}]
    ours, _ = run(tvlars(0.5, weight_decay=0.0, momentum=0.0), grads, kernel=np.zeros((2, 2)))
    np.testing.assert_allclose(ours[0]["kernel"], -0.5 * np.ones((2, 2)))
    zero_grad = [{"kernel": np.zeros((2, 2)), "bias": np.zeros(2)}]
    ours, _ = run(tvlars(0.5, weight_decay=0.0, momentum=0.0), zero_grad)
    np.testing.assert_allclose(ours[0]["kernel"], KERNEL0, rtol=1e-7)  # no NaN from 0 / 0


def test_state_is_a_named_tuple_and_update_needs_params():
    optimizer = tvlars(1.0)
    params = {"kernel": jnp.ones((2, 2))}
    state = optimizer.init(params)
    assert isinstance(state[0], ScaleByTVLARSState) and int(state[0].count) == 0
    with pytest.raises(ValueError, match="parameters"):
        optimizer.update(params, state)


def test_submission_uses_the_authors_defaults_and_a_constant_learning_rate():
    submission = registry.get_submission("tvlars")
    defaults = submission.default_hparams
    assert (defaults["weight_decay"], defaults["momentum"], defaults["eta"]) == (5e-4, 0.9, 1e-3)
    assert 1e-6 <= defaults["lmbda"] <= 1e-2  # inside the authors' sweep (README: why not 1e-3)
    hparams = dict(defaults, learning_rate=0.3, lmbda=0.05, weight_decay=0.01)
    info = WorkloadInfo(name="t", tier="cpu", step_hint=2, batch_size=1, max_runtime=1.0,
                        num_train_examples=1, param_shapes={})
    optimizer = submission.make_optimizer(hparams, info)
    params = {"kernel": jnp.asarray(KERNEL0, jnp.float32), "bias": jnp.asarray(BIAS0, jnp.float32)}
    state = optimizer.init(params)
    trajectory = []
    for g in GRADS:  # beyond the step hint: no schedule, the rate stays
        g = {key: jnp.asarray(value, jnp.float32) for key, value in g.items()}
        updates, state = optimizer.update(g, state, params)
        params = optax.apply_updates(params, updates)
        trajectory.append({key: np.asarray(value) for key, value in params.items()})
        assert float(applied_learning_rate(state)) == pytest.approx(0.3)
    assert_close(trajectory, numpy_tvlars(KERNEL0, BIAS0, GRADS, 0.3, 0.01, 0.9, 1e-3, 0.05))
