"""The MNIST-1D workloads: locally generated data with fixed splits, and trainable models."""

import sys

import jax
import numpy as np

from workloads import mnist1d


def test_generation_is_deterministic_and_leaves_numpy_rng_alone(tmp_path, monkeypatch):
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "a"))
    first = mnist1d.generate_mnist1d(num_examples=300)
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "b"))
    second = mnist1d.generate_mnist1d(num_examples=300)
    np.testing.assert_array_equal(first["x"], second["x"])
    np.testing.assert_array_equal(first["y"], second["y"])
    assert first["x"].shape == (300, 40) and first["x"].dtype == np.float32
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    # from the cache of "b", without importing the generator (slow to import)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)  # importing it now fails
    cached = mnist1d.generate_mnist1d(num_examples=300)
    np.testing.assert_array_equal(cached["x"], second["x"])


def test_splits_sizes_and_batches():
    workload = mnist1d.MNIST1D
    workload.load()
    sizes = {split: len(workload._split(split)["targets"]) for split in mnist1d.SPLITS}
    assert sizes == {"train": 192_000, "validation": 16_000, "test": 16_000}
    assert set(np.unique(workload._split("validation")["targets"])) == set(range(10))
    batches = workload.train_batches(128, seed=0)
    a, b = next(batches), next(workload.train_batches(128, seed=0))
    np.testing.assert_array_equal(a["inputs"], b["inputs"])
    assert a["inputs"].shape == (128, 40) and a["targets"].shape == (128,)
    other = next(workload.train_batches(128, seed=1))
    assert not np.array_equal(a["targets"], other["targets"])


def test_models_initialise_and_evaluate():
    for workload in (mnist1d.MNIST1D, mnist1d.MNIST1D_MLP):
        workload.load()
        params, state = workload.init(jax.random.key(0))
        metrics = workload.evaluate(params, state, "validation")
        assert 0.0 <= metrics["accuracy"] <= 0.3  # untrained: near chance
        assert abs(metrics["loss"] - np.log(10)) < 1.0
