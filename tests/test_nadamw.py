"""NadamW (AlgoPerf form) against a hand-written numpy reference of the update rule."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bench import registry
from bench.optim.grad_clip import with_grad_clip
from bench.optim.nadam import ALGOPERF_SELF_TUNING_POINT, nadamw
from bench.trial.loop import applied_learning_rate
from bench.workload import WorkloadInfo


def numpy_nadamw(theta, grads, lr, b1, b2, eps, wd):
    """Steps t = 1.. of the AlgoPerf NadamW, written out in float64 from its definition."""
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    trajectory = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = (b1 * m + (1 - b1) * g) / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        theta = theta - lr * (m_hat / (np.sqrt(v_hat) + eps) + wd * theta)
        trajectory.append(theta.copy())
    return trajectory


GRADS = [np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.3, -0.7]), np.array([-0.4, 0.2, 0.05])]
THETA0 = np.array([1.0, -0.5, 0.25])


def run_optax(optimizer, grads=GRADS, theta=THETA0):
    params = jnp.asarray(theta, jnp.float32)
    state = optimizer.init(params)
    out = []
    for g in grads:
        updates, state = optimizer.update(jnp.asarray(g, jnp.float32), state, params)
        params = optax.apply_updates(params, updates)
        out.append(np.asarray(params))
    return out


def test_first_step_by_hand():
    # t=1: m = 0.1 g, m_hat = (0.9 * 0.1 g + 0.1 g) / 0.1 = 1.9 g; v_hat = g^2
    # so u = 1.9 g / |g| = 1.9 sign(g) (eps=0), and theta1 = theta0 - lr (1.9 sign(g) + wd theta0)
    lr, wd = 0.01, 0.1
    (theta1,) = run_optax(nadamw(lr, b1=0.9, b2=0.999, eps=0.0, weight_decay=wd), GRADS[:1])
    expected = THETA0 - lr * (1.9 * np.sign(GRADS[0]) + wd * THETA0)
    np.testing.assert_allclose(theta1, expected, rtol=1e-6)


def test_matches_numpy_reference_for_three_steps():
    lr, b1, b2, eps, wd = 0.05, 0.9, 0.99, 1e-8, 0.1
    ours = run_optax(nadamw(lr, b1=b1, b2=b2, eps=eps, weight_decay=wd))
    reference = numpy_nadamw(THETA0, GRADS, lr, b1, b2, eps, wd)
    for step, (a, b) in enumerate(zip(ours, reference)):
        np.testing.assert_allclose(a, b, rtol=1e-5, err_msg=f"step {step + 1}")


def test_differs_from_optax_nadamw_bias_correction():
    lr, b1, b2 = 0.05, 0.9, 0.99
    ours = run_optax(nadamw(lr, b1=b1, b2=b2))
    theirs = run_optax(optax.nadamw(lr, b1=b1, b2=b2, weight_decay=0.0))
    assert np.abs(ours[0] - theirs[0]).max() > 1e-3


def test_submission_schedule_warmup_then_cosine_to_zero():
    submission = registry.get_submission("nadamw")
    hparams = dict(submission.default_hparams, learning_rate=0.01, warmup_factor=0.1)
    info = WorkloadInfo(name="t", tier="cpu", step_hint=100, batch_size=1, max_runtime=1.0,
                        num_train_examples=1, param_shapes={})
    optimizer = submission.make_optimizer(hparams, info)
    params = {"w": jnp.ones(2)}
    state = optimizer.init(params)
    update = jax.jit(optimizer.update)
    rates = []  # rates[k]: the learning rate applied by update k + 1 (schedule at count k)
    for _ in range(120):
        _, state = update({"w": jnp.ones(2)}, state, params)
        rates.append(float(applied_learning_rate(state)))
    assert rates[0] == 0.0
    assert rates[5] == pytest.approx(0.005, rel=1e-5)   # linear warmup over 10 steps
    assert rates[10] == pytest.approx(0.01, rel=1e-5)   # peak at the end of warmup
    assert rates[55] == pytest.approx(0.005, rel=1e-4)  # cosine midpoint
    assert rates[100] == pytest.approx(0.0, abs=1e-9) and rates[119] == 0.0


# AlgoPerf's self-tuning NadamW point, as printed in mlcommons/algorithmic-efficiency,
# prize_qualification_baselines/self_tuning/jax_nadamw_full_budget.py (HPARAMS, less dropout).
ALGOPERF_POINT = {"learning_rate": 0.0017486387539278373, "one_minus_beta1": 0.06733926164,
                  "beta2": 0.9955159689799007, "weight_decay": 0.08121616522670176,
                  "warmup_factor": 0.02}
NADAMW_FAMILY = ["nadamw", "adamw", "nadamw_wsd", "nadamw_rex", "nadamw_power", "nadamw_refined",
                 "nadamw_infinite"]


@pytest.mark.parametrize("name", NADAMW_FAMILY)
def test_nadamw_family_defaults_are_algoperf_point(name):
    defaults = registry.get_submission(name).default_hparams
    assert {key: defaults[key] for key in ALGOPERF_POINT} == ALGOPERF_POINT
    assert defaults["grad_clip"] is None


def test_autolrs_update_rule_at_algoperf_point():
    defaults = registry.get_submission("autolrs").default_hparams
    assert defaults["warmup_learning_rate"] == ALGOPERF_POINT["learning_rate"]
    for key in ("one_minus_beta1", "beta2", "weight_decay"):
        assert defaults[key] == ALGOPERF_POINT[key]


def test_shared_point_cannot_be_changed_by_a_submission():
    with pytest.raises(TypeError):
        ALGOPERF_SELF_TUNING_POINT["learning_rate"] = 1.0


def test_grad_clip_scales_to_the_global_norm_and_none_is_the_rule_itself():
    sgd = optax.sgd(1.0)
    assert with_grad_clip(sgd, None) is sgd
    clipped = with_grad_clip(sgd, 1.0)
    grads = {"a": jnp.array([3.0, 0.0]), "b": jnp.array([4.0])}  # global norm 5
    updates, _ = clipped.update(grads, clipped.init(grads))
    np.testing.assert_allclose(updates["a"], [-0.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(updates["b"], [-0.8], rtol=1e-6)
    small = {"a": jnp.array([0.3, 0.0]), "b": jnp.array([0.4])}  # norm 0.5 < 1: untouched
    updates, _ = clipped.update(small, clipped.init(small))
    np.testing.assert_allclose(updates["b"], [-0.4], rtol=1e-6)


def test_submission_grad_clip_clips_before_nadam():
    """With grad_clip, the updates are NadamW's on the gradients scaled to that global norm."""
    submission = registry.get_submission("nadamw")
    info = WorkloadInfo(name="t", tier="cpu", step_hint=10**9, batch_size=1, max_runtime=1.0,
                        num_train_examples=1, param_shapes={})  # cosine still at its peak
    hparams = dict(submission.default_hparams, warmup_factor=0.0, weight_decay=0.0, grad_clip=0.1)
    ours = run_optax(submission.make_optimizer(hparams, info))
    clipped = [g * min(1.0, 0.1 / np.linalg.norm(g)) for g in GRADS]
    point = (hparams["learning_rate"], 1 - hparams["one_minus_beta1"], hparams["beta2"], 1e-8, 0.0)
    reference = numpy_nadamw(THETA0, clipped, *point)
    unclipped = numpy_nadamw(THETA0, GRADS, *point)
    assert np.abs(reference[-1] - unclipped[-1]).max() > 1e-4  # the clip changes the result
    for a, b in zip(ours, reference):
        np.testing.assert_allclose(a, b, rtol=1e-5)
