"""Shared fixtures: a tiny synthetic workload that trains in milliseconds, and fake clocks."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.workload import Workload, WorkloadSpec

# Tests compile many tiny models on CPU: the non-partitionable threefry lowering compiles random
# initialisers several times faster (values differ from the default, determinism does not).
jax.config.update("jax_threefry_partitionable", False)


class TinyRegression(Workload):
    """Least squares on 4 features: y = x . w_true. Metric: validation loss (lower is better)."""

    def __init__(self, target: float = 0.05, **spec_overrides):
        fields = dict(
            name="tiny", tier="smoke", dataset="synthetic", model="linear",
            target_metric="loss", validation_target=target, test_target=None,
            higher_is_better=False, step_hint=100, max_runtime=30.0, eval_period=0.05,
            batch_size=16,
        )
        fields.update(spec_overrides)
        self.spec = WorkloadSpec(**fields)
        rng = np.random.default_rng(0)
        self.w_true = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
        self.data = {}
        for split, n in (("train", 256), ("validation", 64), ("test", 64)):
            x = rng.normal(size=(n, 4)).astype(np.float32)
            self.data[split] = {"inputs": x, "targets": x @ self.w_true}

    def load(self, data_dir=None):
        pass

    @property
    def num_train_examples(self):
        return 256

    def init(self, rng):
        return {"w": jnp.zeros(4), "b": jnp.zeros(())}, {}

    def loss(self, params, model_state, batch, rng, train):
        pred = batch["inputs"] @ params["w"] + params["b"]
        return jnp.mean((pred - batch["targets"]) ** 2), model_state

    def train_batches(self, batch_size, seed) -> Iterator[dict]:
        rng = np.random.default_rng(seed)
        data = self.data["train"]
        while True:
            index = rng.choice(256, batch_size, replace=False)
            yield {key: value[index] for key, value in data.items()}

    def eval_batches(self, split):
        yield self.data[split]

    def eval_sums(self, params, model_state, batch):
        pred = batch["inputs"] @ params["w"] + params["b"]
        return {
            "loss": jnp.sum((pred - batch["targets"]) ** 2),
            "count": jnp.asarray(batch["targets"].shape[0]),
        }


TINY = TinyRegression()  # reachable from child processes as "tests.conftest:TINY"


@pytest.fixture
def tiny_workload():
    return TinyRegression()


class FakeTimer:
    """A clock that advances by `tick` seconds on every read: deterministic timing."""

    def __init__(self, tick: float = 0.01):
        self.now = 0.0
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


SGD_SUBMISSION = '''
"""Plain SGD for tests."""
import optax

DEFAULT_HPARAMS = {"learning_rate": 0.1}

def make_optimizer(hparams, workload_info):
    return optax.sgd(hparams["learning_rate"])
'''


def write_submission(directory, source: str, name: str = "sgd"):
    folder = directory / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "submission.py"
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture
def sgd_path(tmp_path):
    return write_submission(tmp_path, SGD_SUBMISSION)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Generated datasets are cached once per test session, outside the user's home."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    jax.config.update("jax_enable_x64", False)
