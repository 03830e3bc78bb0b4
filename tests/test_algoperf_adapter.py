"""The AlgoPerf-API adapter (bench.algoperf_api): loading, the workload facade, faithfulness.

The faithfulness checks compare an AlgoPerf-API submission through the adapter with bench's own
training step (`bench.trial.loop.make_train_step`) given the same update rule as an optax
transformation, step by step from the same initial parameters on the same batches.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bench import registry, tuning
from bench.trial import loop as runner
from bench.algoperf_api import adapter, facade, is_algoperf_submission, modules
from bench.protocol import ProtocolSettings
from bench.submission import HparamsError, load_submission, resolve_hparams

FIXTURES = Path(__file__).parent / "fixtures" / "algoperf"
NADAMW = FIXTURES / "nadamw" / "submission.py"
SGD = FIXTURES / "sgd_momentum" / "submission.py"
NADAMW_POINT = json.loads((FIXTURES / "nadamw" / "tuning_point.json").read_text())


@pytest.fixture(scope="module")
def mlp():
    workload = registry.get_workload("mnist1d_mlp")
    workload.load()
    return workload


@pytest.fixture(scope="module")
def smooth():
    """A model without kinks (GELU) for trajectory comparisons. With ReLU, rounding-level
    differences (the two forms compile to different XLA programs) eventually move one
    pre-activation across 0; Adam's normalisation turns the changed gradient of a nearly dead
    unit into a full-size step (seen on mnist1d_mlp: 1e-7 apart for 31 steps, then 2e-4)."""
    workload = registry.get_workload("mnist1d_gelu")
    workload.load()
    return workload


# ---------------------------------------------------------------------------- loading


def test_spec_stand_in_has_algoperfs_names_and_values():
    modules.install()
    from algoperf import jax_sharding_utils, spec  # noqa: F401  (what submissions import)
    from algorithmic_efficiency import spec as old_spec

    assert old_spec is spec
    # Values of algoperf/spec.py (mlcommons/algorithmic-efficiency).
    assert spec.ForwardPassMode.TRAIN.value == 0 and spec.ForwardPassMode.EVAL.value == 1
    assert spec.ParameterType.CONV_WEIGHT.value == 2
    assert spec.ParameterType.ATTENTION_BIAS.value == 14
    assert spec.LossType.CTC_LOSS.value == 3
    assert spec.ShapeTuple((2, 3)).shape_tuple == (2, 3)
    assert jax_sharding_utils.get_batch_dim_sharding().spec == jax.sharding.PartitionSpec("batch")
    assert jax.tree_map(lambda x: x + 1, {"a": 1}) == {"a": 2}  # v0.5 submissions call it


def test_recognised_and_loaded_without_being_imported(tmp_path):
    marker = tmp_path / "imported"
    source = NADAMW.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n"
    path = tmp_path / "submission.py"
    path.write_text(source)
    assert is_algoperf_submission(path)
    assert not is_algoperf_submission(registry.submissions_dir() / "nadamw" / "submission.py")
    submission = load_submission(path)
    assert submission.make_trainer is not None and submission.open_hparams
    assert not marker.exists()  # loading read the file; only a trial imports it
    assert submission.search_space_path is None  # no tuning_search_space.json in tmp_path


def test_hyperparameters_are_open_and_become_a_namedtuple():
    submission = load_submission(NADAMW)
    point = resolve_hparams(submission, {"learning_rate": 0.1, "anything": "x"})
    assert point == {"learning_rate": 0.1, "anything": "x"}
    hp = adapter.hyperparameters(point)
    assert type(hp).__name__ == "Hyperparameters" and hp.learning_rate == 0.1
    assert adapter.hyperparameters({}) is None  # AlgoPerf's self-tuning convention
    with pytest.raises(HparamsError):  # values are still checked
        resolve_hparams(submission, {"learning_rate": float("nan")})


def test_batch_size_falls_back_for_workloads_the_submission_does_not_know():
    class Module:
        @staticmethod
        def get_batch_size(name):
            if name == "ogbg":
                return 512
            raise ValueError(name)

    assert adapter.batch_size(Module, "ogbg", None, 7) == 512
    assert adapter.batch_size(Module, "ogbg_gelu", "ogbg", 7) == 512  # a variant: its base's
    assert adapter.batch_size(Module, "mnist1d", None, 7) == 7


# ---------------------------------------------------------------------------- facade


def test_facade_loss_is_the_workloads_mean_loss(mlp):
    params, state = mlp.init(jax.random.key(0))
    view = facade.AlgoPerfWorkload(mlp, params, max_runtime=1.0, eval_period=1.0)
    batch = next(mlp.train_batches(32, 0))
    expected, _ = mlp.loss(params, state, batch, jax.random.key(1), True)
    logits, _ = view.model_fn(params, batch, state, modules.spec.ForwardPassMode.TRAIN,
                              jax.random.key(1), update_batch_norm=True)
    losses = view.loss_fn(batch["targets"], logits)
    assert float(losses["n_valid_examples"]) == 32
    np.testing.assert_allclose(losses["summed"] / losses["n_valid_examples"], expected, rtol=1e-6)
    masked = view.loss_fn(batch["targets"], logits, mask_batch=jnp.arange(32) < 20)
    assert float(masked["n_valid_examples"]) == 20
    assert view.step_hint == mlp.spec.step_hint and view.num_train_examples == 192_000
    assert view.param_shapes["Dense_0"]["kernel"].shape_tuple == (40, 256)
    assert view.is_output_params("Dense_2") and not view.is_output_params("Dense_0")


def test_parameter_types_follow_algoperfs_naming_rule():
    params = {"Conv_0": {"kernel": 0, "bias": 0}, "BatchNorm_0": {"scale": 0, "bias": 0},
              "LayerNorm_0": {"scale": 0, "bias": 0}, "Embed_0": {"embedding": 0},
              "Dense_0": {"kernel": 0, "bias": 0}}
    kinds = facade.param_types(params)
    T = modules.spec.ParameterType
    assert kinds["Conv_0"] == {"kernel": T.CONV_WEIGHT, "bias": T.BIAS}
    assert kinds["BatchNorm_0"] == {"scale": T.BATCH_NORM_SCALE, "bias": T.BATCH_NORM_BIAS}
    assert kinds["LayerNorm_0"] == {"scale": T.LAYER_NORM_SCALE, "bias": T.LAYER_NORM_BIAS}
    assert kinds["Embed_0"] == {"embedding": T.EMBEDDING}
    assert kinds["Dense_0"] == {"kernel": T.WEIGHT, "bias": T.BIAS}


# ---------------------------------------------------------------------------- faithfulness


def native_nadamw(point, step_hint):
    """bench's own `nadamw` submission at the same point (its `make_optimizer`)."""
    native = registry.get_submission("nadamw")
    hparams = {**native.default_hparams, **point}
    info = type("Info", (), {"step_hint": step_hint})
    return native.make_optimizer(hparams, info)


def trajectories(workload, submission_path, point, optimizer, steps, batch_size=128):
    """Parameters after each step: the AlgoPerf-API file through the adapter, and bench's own
    training step with `optimizer`, from the same initial parameters on the same batches."""
    init_rng, step_rng = jax.random.split(jax.random.key(0))
    params, state = workload.init(init_rng)
    module = adapter.import_submission(submission_path)
    settings = ProtocolSettings().resolve(workload.spec)
    trainer = adapter.AlgoPerfTrainer(module, workload, point, params, state, step_rng, settings)
    native_step = runner.make_train_step(workload, optimizer)
    ours = trainer.state
    theirs = (params, state, optimizer.init(params))
    batches = workload.train_batches(batch_size, 0)
    for step in range(steps):
        batch = next(batches)
        ours = trainer.step(*ours, batch, step_rng, np.int32(step), False)[:3]
        theirs = native_step(*theirs, batch, step_rng, np.int32(step), False)[:3]
        yield step + 1, trainer.eval_view(ours[0], ours[1])[0], theirs[0]


def assert_same_trajectory(pairs):
    for step, ours, theirs in pairs:
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-6,
                                       err_msg=f"after step {step}")


def test_nadamw_fixture_follows_bench_nadamw_step_by_step(smooth):
    # step_hint 3000, warmup 2% = 60 steps: the 80 steps cover the warmup and the cosine's start
    optimizer = native_nadamw(NADAMW_POINT, smooth.spec.step_hint)
    assert_same_trajectory(trajectories(smooth, NADAMW, NADAMW_POINT, optimizer, steps=80))


def test_pmap_style_sgd_fixture_follows_the_same_rule_in_optax(mlp):
    # no normalisation here: a flipped ReLU mask changes a step only by one example's share
    point = json.loads((FIXTURES / "sgd_momentum" / "tuning_search_space.json").read_text())[0]
    warmup = int(point["warmup_factor"] * mlp.spec.step_hint)
    schedule = optax.join_schedules([  # the fixture's docstring, written here independently
        optax.linear_schedule(0.0, point["learning_rate"], warmup),
        optax.linear_schedule(point["learning_rate"], point["learning_rate"] * point["end_factor"],
                              mlp.spec.step_hint - warmup)], [warmup])
    optimizer = optax.chain(optax.add_decayed_weights(point["weight_decay"]),
                            optax.trace(decay=point["beta1"]), optax.scale_by_learning_rate(schedule))
    assert_same_trajectory(trajectories(mlp, SGD, point, optimizer, steps=40))


def test_trial_through_the_runner_matches_the_native_trial(smooth):
    """The whole runner path (batch size, warm-up, evaluation, curve) on both forms."""
    settings = ProtocolSettings(max_steps=150, eval_every_steps=50)
    ours = runner.run_trial(smooth, load_submission(NADAMW), NADAMW_POINT, settings=settings)
    theirs = runner.run_trial(smooth, registry.get_submission("nadamw"),
                              {**registry.get_submission("nadamw").default_hparams,
                               **NADAMW_POINT}, settings=settings)
    assert ours.outcome == theirs.outcome and ours.message.split("s of")[1:] == \
        theirs.message.split("s of")[1:]
    assert ours.batch_size == theirs.batch_size == smooth.spec.batch_size
    assert [row["step"] for row in ours.evals] == [0, 50, 100, 150]
    for a, b in zip(ours.evals, theirs.evals):
        np.testing.assert_allclose(a["validation/loss"], b["validation/loss"], rtol=1e-5)
    # the fixture logs its loss every 100 steps: steps 1 and 101 of the native curve
    assert ours.train_curve["step"] == [1, 101]
    native = dict(zip(theirs.train_curve["step"], theirs.train_curve["loss"]))
    np.testing.assert_allclose(ours.train_curve["loss"], [native[1], native[101]], rtol=1e-5)


# ---------------------------------------------------------------------------- AlgoPerf semantics


PREPARE_SOURCE = '''
import jax, jax.numpy as jnp
from algoperf import spec

SEEN = []  # (global_step, evaluations so far, step of the last prepare_for_eval)

def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    return {"prepared_at": jnp.int32(-1)}

def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng):
    SEEN.append((global_step, len(eval_results), int(optimizer_state["prepared_at"])))
    return optimizer_state, current_param_container, model_state

def prepare_for_eval(workload, current_param_container, current_params_types, model_state,
                     hyperparameters, loss_type, optimizer_state, eval_results, global_step, rng):
    zeros = jax.tree.map(jnp.zeros_like, current_param_container)
    return {"prepared_at": jnp.int32(global_step)}, zeros, model_state

def get_batch_size(workload_name):
    raise ValueError(workload_name)

def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state,
                   hyperparameters, global_step, rng):
    return next(input_queue)
'''


def test_prepare_for_eval_state_is_evaluated_and_kept(tmp_path, mlp):
    path = tmp_path / "prepare.py"
    path.write_text(PREPARE_SOURCE)
    result = runner.run_trial(mlp, load_submission(path), {},
                              settings=ProtocolSettings(max_steps=6, eval_every_steps=2))
    assert result.outcome.value == "budget", result.message
    # zero parameters give the same logits for every example: one class, about 10% accuracy
    assert [row["step"] for row in result.evals] == [0, 2, 4, 6]
    assert all(row["validation/accuracy"] < 0.2 for row in result.evals)
    # after two warm-up calls outside the clock, each step sees the evaluations so far and
    # the optimizer state the last prepare_for_eval returned
    seen = adapter.import_submission(path).SEEN
    assert seen[2:] == [(0, 1, 0), (1, 1, 0), (2, 2, 2), (3, 2, 2), (4, 3, 4), (5, 3, 4)]


def test_study_plans_algoperf_search_spaces():
    nadamw = load_submission(NADAMW)
    points = tuning.study_points(nadamw, "external", study=0, trials=3)
    assert len(points) == 3 and all(set(p) == set(NADAMW_POINT) for p in points)
    assert all(1e-4 <= p["learning_rate"] <= 1e-2 for p in points)
    sgd = load_submission(SGD)  # AlgoPerf's list form: the listed points, in order
    listed = json.loads(sgd.search_space_path.read_text())
    assert tuning.study_points(sgd, "external", study=0, trials=2) == listed[:2]
    assert tuning.study_points(sgd, "external", study=3, trials=5) == listed
    assert tuning.study_points(sgd, "self", study=0, trials=1) == [{}]


def test_parent_process_never_imports_the_submission(tmp_path):
    marker = tmp_path / "imported"
    (tmp_path / "submission.py").write_text(
        SGD.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n")
    (tmp_path / "tuning_search_space.json").write_text(
        (SGD.parent / "tuning_search_space.json").read_text())
    submission = registry.get_submission(str(tmp_path / "submission.py"))
    tuning.plan_study(submission, [registry.get_workload("mnist1d_mlp")], "external", 1, 2)
    assert not marker.exists()


@pytest.mark.slow
def test_same_steps_to_target_as_the_native_form(smooth):
    """A whole trial to the target: the same step count at the same evaluations (the time to
    target is compared in benchmarks/adapter_overhead.py --time-to-target)."""
    native = registry.get_submission("nadamw")
    settings = ProtocolSettings(eval_every_steps=100)
    ours = runner.run_trial(smooth, load_submission(NADAMW), NADAMW_POINT, settings=settings)
    theirs = runner.run_trial(smooth, native, {**native.default_hparams, **NADAMW_POINT},
                              settings=settings)
    assert ours.outcome.value == theirs.outcome.value == "hit"
    assert ours.steps_to_target == theirs.steps_to_target


def test_the_trusted_side_describes_an_algoperf_file_with_open_hyperparameters():
    """The parent reads an AlgoPerf file through `bench.describe` (never importing it): the
    stand-in must say that it brings its own training step and takes any hyperparameter names,
    or `bench run --hparams tuning_point.json` refuses AlgoPerf's points."""
    from bench.describe import describe

    described = describe(str(NADAMW))
    assert described.open_hparams and described.make_trainer is not None
    assert resolve_hparams(described, {"learning_rate": 1e-3, "warmup_factor": 0.05})
