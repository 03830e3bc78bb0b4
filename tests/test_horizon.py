"""The schedule horizon (`bench.schedules.horizon`, hyperparameter `horizon_factor`): a baseline
told the workload's step hint with horizon_factor 0.75 trains exactly as the target-setting run
told 3/4 of it did, so its target-setting configuration run as a trial reproduces that run."""

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bench import registry, schedules
from bench.search_space import load_search_space
from bench.workload import WorkloadInfo

# The submissions whose schedules are built from the step hint and that the external board tunes.
WITH_HORIZON = ["nadamw", "adamw", "sgd_nesterov", "prodigy", "dadapt_adamw", "dog", "mechanic"]
TARGETS = Path(__file__).resolve().parents[1] / "workloads" / "targets"


def test_horizon_is_the_factor_of_the_step_hint_rounded_down():
    assert schedules.horizon(24000) == 24000
    assert schedules.horizon(24000, 0.75) == 18000
    assert schedules.horizon(4001, 0.75) == 3000  # 3000.75 rounded down
    assert schedules.horizon(1, 0.75) == 1  # never 0 steps
    for factor in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="horizon factor"):
            schedules.horizon(100, factor)


@pytest.mark.parametrize("path", sorted(TARGETS.glob("*.json")), ids=lambda p: p.stem)
def test_three_quarters_horizon_is_what_each_workloads_target_setting_trained(path):
    report = json.loads(path.read_text())
    if "target_setting_steps" not in report:
        pytest.skip(f"{path.name} was set before target-setting runs trained 3/4 of the hint")
    assert schedules.horizon(report["step_hint"], 0.75) == report["target_setting_steps"]


def trajectory(name, step_hint, steps=48, **overrides):
    """How far each of `steps` updates of a fixed gradient sequence has moved the parameters."""
    submission = registry.get_submission(name)
    hparams = dict(submission.default_hparams, **overrides)
    if name in ("prodigy", "dadapt_adamw", "dog", "mechanic"):
        hparams["schedule"] = "cosine"
        hparams["warmup_factor"] = 0.1
    info = WorkloadInfo(name="t", tier="cpu", step_hint=step_hint, batch_size=1, max_runtime=1.0,
                        num_train_examples=1, param_shapes={})
    optimizer = submission.make_optimizer(hparams, info)
    start = jnp.asarray([1.0, -2.0, 0.5], jnp.float32)
    params = {"w": start}
    state = optimizer.init(params)
    out = []
    for step in range(steps):
        grad = {"w": params["w"] + jnp.asarray([0.3, -0.1, 0.2]) * np.cos(step)}
        updates, state = optimizer.update(grad, state, params)
        params = optax.apply_updates(params, updates)
        out.append(np.asarray(params["w"] - start))
    return np.stack(out)


@pytest.mark.parametrize("name", WITH_HORIZON)
def test_horizon_factor_trains_as_a_shorter_step_hint(name):
    told_three_quarters = trajectory(name, step_hint=30)
    with_factor = trajectory(name, step_hint=40, horizon_factor=0.75)
    whole_hint = trajectory(name, step_hint=40)
    np.testing.assert_allclose(with_factor, told_three_quarters, rtol=1e-5, atol=0)
    assert not np.allclose(whole_hint, told_three_quarters, rtol=1e-2, atol=0)


@pytest.mark.parametrize("name", WITH_HORIZON)
def test_external_search_space_uses_the_target_setting_horizon(name):
    submission = registry.get_submission(name)
    assert submission.default_hparams["horizon_factor"] == 1.0  # self-tuning spans the hint
    space = json.loads(Path(submission.search_space_path).read_text())
    assert space["horizon_factor"] == {"feasible_points": [0.75]}
    load_search_space(submission.search_space_path)  # still a valid search space
