"""Fake-data smoke runs: every full-tier workload trains and evaluates on synthetic data.

The smoke set iterates over the registry, so a full-tier workload added later is picked up (and
must offer `fake`). Each run is the tiny model for 20 steps (seconds on a CPU). Held-out variants
differ from their base in the model or the loss alone: the default suite traces their training
step and evaluation on fake batches (`jax.eval_shape`: shapes and code paths, nothing compiled),
and `make test-slow` trains each of them as well.
"""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from click.testing import CliRunner

from bench import registry
from bench.protocol import Outcome, ProtocolSettings
from bench.trial.loop import run_trial
from workloads import DatasetNotPreparedError, _synthetic, _tfds, mnist

FULL_TIER = sorted(name for name, w in registry.all_workloads().items() if w.spec.tier == "full")
VARIANTS = [name for name in FULL_TIER if registry.get_workload(name).spec.variant_of]
STEPS = 20


@pytest.fixture(scope="module")
def nadamw():
    return registry.get_submission("nadamw")


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=[pytest.mark.slow] if name in VARIANTS else []) for name in FULL_TIER])
def test_fake_data_smoke_run(name, nadamw):
    workload = registry.get_workload(name)
    fake = workload.fake("tiny")
    fake.load(None)
    result = run_trial(fake, nadamw, dict(nadamw.default_hparams), seed=0,
                       settings=ProtocolSettings(max_steps=STEPS))
    assert result.outcome == Outcome.BUDGET, result.message
    assert result.steps == STEPS and result.message.startswith("max_steps:")
    assert all(np.isfinite(result.train_curve["loss"]))
    metric = fake.spec.target_metric
    last = result.evals[-1]
    assert np.isfinite(last[f"validation/{metric}"]) and np.isfinite(last["validation/loss"])
    assert f"test/{metric}" in last


@pytest.mark.parametrize("name", VARIANTS)
def test_a_variants_training_step_and_evaluation_trace_on_fake_batches(name):
    fake = registry.get_workload(name).fake("tiny")
    fake.load(None)
    rng = jax.random.key(0)
    params, model_state = jax.eval_shape(fake.init, rng)
    batch = next(fake.train_batches(fake.spec.batch_size, seed=0))

    def step(params, model_state, batch, rng):
        return jax.value_and_grad(fake.loss, has_aux=True)(params, model_state, batch, rng, True)

    (loss, _), grads = jax.eval_shape(step, params, model_state, batch, rng)
    assert loss.shape == () and jnp.issubdtype(loss.dtype, jnp.floating)
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    assert jax.tree.map(lambda g, p: g.shape == p.shape, grads, params) == jax.tree.map(
        lambda p: True, params)
    sums = jax.eval_shape(fake.eval_sums, params, model_state,
                          next(iter(fake.eval_batches("validation"))))
    assert "loss" in sums and all(value.shape == () for value in sums.values())
    assert fake.spec.variant_of in FULL_TIER and fake.spec.variant_of not in VARIANTS


@pytest.mark.parametrize("name", ["imagenet_vit_map", "criteo1tb", "fastmri_tanh"])
def test_fake_copy_keeps_name_and_rules_and_says_it_is_synthetic(name):
    workload = registry.get_workload(name)
    fake = workload.fake("tiny")
    spec, original = fake.spec, workload.spec
    assert (spec.name, spec.validation_target, spec.test_target, spec.step_hint,
            spec.max_runtime, spec.variant_of) == (
        original.name, original.validation_target, original.test_target, original.step_hint,
        original.max_runtime, original.variant_of)
    assert spec.dataset.startswith("synthetic") and spec.model.startswith("tiny")
    assert spec.batch_size < original.batch_size
    full = workload.fake("full")
    assert full.spec.batch_size == original.batch_size and full.spec.model == original.model
    assert workload.fake_of is None and workload.spec == original  # the original is untouched
    with pytest.raises(ValueError, match="model size"):
        workload.fake("huge")


def test_fake_copies_are_rebuilt_by_reference_in_another_process():
    fake = registry.get_workload("imagenet_vit").fake("tiny")
    reference = registry.workload_reference(fake)
    assert reference == "imagenet_vit@fake-tiny"
    again = registry.get_workload(reference)
    assert again.spec == fake.spec and again.fake_of[1] == "tiny"


def test_synthetic_splits_are_deterministic_per_index():
    split = _synthetic.SyntheticSplit(5, _synthetic.imagenet_like_images(1000), seed=3)
    first, again = split[2], split.__getitems__([4, 2])[1]
    np.testing.assert_array_equal(first["image"], again["image"])
    assert first["image"].dtype == np.uint8 and first["image"].shape[2] == 3
    assert max(first["image"].shape[:2]) <= 500  # ImageNet's longer side
    with pytest.raises(IndexError):
        split[5]


def test_cli_fake_run_writes_its_record_apart(tmp_path, monkeypatch):
    from bench.cli import main

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["run", "-w", "mnist", "-s", "nadamw", "--fake-data", "--max-steps", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "max_steps:" in result.output
    assert (tmp_path / "results-fake/single/nadamw/mnist/study_0/trial_0.json").exists()
    assert not (tmp_path / "results").exists()
    refused = CliRunner().invoke(main, ["run", "-w", "mnist1d", "-s", "nadamw", "--fake-data"])
    assert refused.exit_code == 2 and "no fake-data form" in refused.output


def test_a_train_split_smaller_than_the_held_out_part_is_a_one_line_error():
    workload = mnist.make_workload(mnist.MNIST_SPEC, "mnist")
    workload.open_split = _synthetic.SyntheticDataset(
        {"train": 300, "test": 10}, _synthetic.labelled_images((28, 28, 1), 10)
    )
    with pytest.raises(DatasetNotPreparedError) as caught:
        workload.load("/data")
    message = str(caught.value)
    assert "\n" not in message and "300 examples" in message and "10001" in message
    assert "tfds build mnist --data_dir /data" in message


def test_missing_dataset_logs_no_absl_warnings(tmp_path, caplog):
    pytest.importorskip("tensorflow_datasets")
    with caplog.at_level(logging.INFO, logger="absl"):
        with pytest.raises(DatasetNotPreparedError, match="needs TensorFlow"):
            _tfds.open_split("imagenet2012", "train", data_dir=str(tmp_path), workload="w")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
