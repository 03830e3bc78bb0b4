"""The cpu-tier workload library: fixed data splits, model shapes, and a few steps of training."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bench import registry
from workloads import autoencoder, digits, mnist1d, modular_arithmetic

NEW_CPU_WORKLOADS = ("mnist1d_gelu", "modular_arithmetic", "digits_autoencoder")


def first_train_losses(workload, steps: int, learning_rate: float, batch_size: int = 64):
    """Training losses of `steps` Adam steps from a fresh initialisation (seed 0)."""
    params, state = workload.init(jax.random.key(0))
    optimizer = optax.adam(learning_rate)
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, batch):
        loss, grads = jax.value_and_grad(
            lambda p: workload.loss(p, state, batch, jax.random.key(1), True)[0]
        )(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    losses = []
    batches = workload.train_batches(batch_size, seed=0)
    for _ in range(steps):
        params, opt_state, loss = step(params, opt_state, next(batches))
        losses.append(float(loss))
    return losses


def rows(array: np.ndarray) -> list[bytes]:
    return sorted(row.tobytes() for row in array.reshape(len(array), -1))


def test_new_workloads_are_discovered_as_cpu_tier():
    found = registry.all_workloads()
    for name in NEW_CPU_WORKLOADS:
        assert found[name].spec.tier == "cpu"
        assert f"bench set-targets -w {name} " in found[name].spec.calibration
    assert found["digits"].spec.tier == "smoke"  # too quick and coarse to rank by (issue 21)
    assert found["mnist1d_gelu"].spec.variant_of == "mnist1d"
    assert found["digits_autoencoder"].spec.higher_is_better is False


# ------------------------------------------------------------------------------ MNIST-1D GELU


def test_mnist1d_gelu_is_the_cnn_with_gelu_and_trains():
    gelu, relu = mnist1d.MNIST1D_GELU, mnist1d.MNIST1D
    assert gelu.model.activation == "gelu" and relu.model.activation == "relu"
    assert gelu.model.channels == relu.model.channels
    assert gelu.spec.step_hint == relu.spec.step_hint
    assert gelu.spec.batch_size == relu.spec.batch_size
    gelu.load()
    losses = first_train_losses(gelu, steps=15, learning_rate=1e-2, batch_size=32)
    assert np.mean(losses[-5:]) < losses[0] - 0.2


# ------------------------------------------------------------------------ modular arithmetic


def test_modular_splits_partition_all_equations_and_are_fixed():
    task = modular_arithmetic.MODULAR_ADDITION.task
    assert (task.modulus, task.train_fraction, task.operation) == (97, 0.175, "+")
    splits = modular_arithmetic.make_equations(task)
    # 0.175 * 9409 = 1646.575 -> 1647 for training; the other 7762 halved.
    assert {k: len(v["targets"]) for k, v in splits.items()} == {
        "train": 1647, "validation": 3881, "test": 3881,
    }
    pairs = {
        split: {(int(x[0]), int(x[2])) for x in data["inputs"]} for split, data in splits.items()
    }
    assert sum(map(len, pairs.values())) == 97 * 97
    assert set().union(*pairs.values()) == {(a, b) for a in range(97) for b in range(97)}
    for data in splits.values():
        tokens, answers = data["inputs"], data["targets"]
        assert tokens.shape[1] == 4 and tokens.dtype == np.int32
        assert np.all(tokens[:, 1] == task.operation_token)
        assert np.all(tokens[:, 3] == task.equals_token)
        np.testing.assert_array_equal(answers, (tokens[:, 0] + tokens[:, 2]) % 97)
    again = modular_arithmetic.make_equations(task)
    np.testing.assert_array_equal(again["train"]["inputs"], splits["train"]["inputs"])
    other = modular_arithmetic.make_equations(dataclasses.replace(task, split_seed=1))
    assert not np.array_equal(other["train"]["inputs"], splits["train"]["inputs"])

    # The commutativity plateau: the share of validation equations a + b (a != b) whose twin
    # b + a is a training equation is about the training fraction, 1647 / 9408 = 0.175.
    swapped = [(b, a) in pairs["train"] for a, b in pairs["validation"] if a != b]
    assert abs(np.mean(swapped) - 0.175) < 0.03


def test_modular_subtraction_and_division():
    subtract = modular_arithmetic.ModularTask(modulus=7, train_fraction=0.5, operation="-")
    divide = dataclasses.replace(subtract, operation="/")
    assert sum(subtract.num_examples().values()) == 49
    assert sum(divide.num_examples().values()) == 42  # no b = 0
    answers = {}
    for task, check in ((subtract, lambda a, b, c: (c + b) % 7 == a),
                        (divide, lambda a, b, c: (c * b) % 7 == a)):
        table = answers[task.operation] = {}
        for data in modular_arithmetic.make_equations(task).values():
            assert np.all(data["inputs"][:, 1] == 7) and np.all(data["inputs"][:, 3] == 8)
            for (a, _, b, _), c in zip(data["inputs"], data["targets"]):
                assert check(a, b, c)
                table[int(a), int(b)] = int(c)
        assert len(table) == sum(task.num_examples().values())
    assert (3, 0) not in answers["/"] and answers["-"][3, 0] == 3
    # mod 7, worked by hand: 2 - 5 = -3 = 4; 5^-1 = 3 (5 * 3 = 15 = 1), so 3 / 5 = 3 * 3 = 2.
    assert answers["-"][2, 5] == 4 and answers["/"][3, 5] == 2


def test_modular_workload_evaluates_and_trains():
    small = modular_arithmetic.ModularArithmeticWorkload(
        modular_arithmetic.MODULAR_ADDITION.spec,
        modular_arithmetic.ModularTask(modulus=11, train_fraction=0.6),
        width=32,
    )
    small.load()
    assert small.num_train_examples == 73
    params, state = small.init(jax.random.key(0))
    metrics = small.evaluate(params, state, "validation")
    assert abs(metrics["loss"] - np.log(11)) < 1.0 and 0.0 <= metrics["accuracy"] <= 0.5
    batches = small.train_batches(16, seed=3)
    first = next(batches)
    np.testing.assert_array_equal(first["inputs"], next(small.train_batches(16, seed=3))["inputs"])
    assert not np.array_equal(first["inputs"], next(small.train_batches(16, seed=4))["inputs"])

    # Computing the last block at the last position only gives the logits of the full pass.
    tokens = small._split("validation")["inputs"]
    full_model = modular_arithmetic.Transformer(
        dataclasses.replace(small.model.config, last_position_shortcut=False)
    )
    both = jax.jit(lambda v, t: (small.model.apply(v, t), full_model.apply(v, t)))
    logits, full_logits = both({"params": params}, tokens)
    assert logits.shape == (len(tokens), 11)
    np.testing.assert_allclose(logits, full_logits, rtol=1e-4, atol=1e-5)

    losses = first_train_losses(small, steps=30, learning_rate=1e-2, batch_size=16)
    assert np.mean(losses[-5:]) < losses[0] - 0.3


# ------------------------------------------------------------------------------------ digits


def test_digits_splits_are_a_fixed_partition_of_the_bundled_set():
    from sklearn.datasets import load_digits

    splits = digits.load_digits_splits()
    assert {k: len(v["targets"]) for k, v in splits.items()} == {
        "train": 1197, "validation": 300, "test": 300,
    }
    everything = np.concatenate([v["images"] for v in splits.values()])
    assert rows(everything) == rows((load_digits().images / 16).astype(np.float32))
    assert everything.min() == 0.0 and everything.max() == 1.0
    again = digits.load_digits_splits()
    np.testing.assert_array_equal(again["test"]["images"], splits["test"]["images"])
    other = digits.load_digits_splits(seed=1)
    assert not np.array_equal(other["test"]["images"], splits["test"]["images"])
    assert set(np.unique(splits["validation"]["targets"])) == set(range(10))


def test_digits_inputs_are_normalised_with_training_statistics():
    workload = digits.DIGITS
    workload.load()
    train = workload._split("train")["inputs"]
    assert train.shape == (1197, 8, 8, 1) and train.dtype == np.float32
    assert abs(train.mean()) < 1e-5 and abs(train.std() - 1.0) < 1e-4
    raw = digits.load_digits_splits()["validation"]["images"]
    np.testing.assert_allclose(
        workload._split("validation")["inputs"][..., 0], (raw - workload.mean) / workload.std,
        rtol=1e-6,
    )
    batch = next(workload.train_batches(64, seed=0))
    assert batch["inputs"].shape == (64, 8, 8, 1) and batch["targets"].shape == (64,)
    assert not np.array_equal(batch["targets"], next(workload.train_batches(64, seed=1))["targets"])


def test_digits_cnn_evaluates_and_trains():
    workload = digits.DIGITS
    workload.load()
    params, state = workload.init(jax.random.key(0))
    inputs = jax.ShapeDtypeStruct((7, 8, 8, 1), jnp.float32)
    logits, _ = jax.eval_shape(lambda x: workload.logits(params, state, x, train=False), inputs)
    assert logits.shape == (7, 10)
    metrics = workload.evaluate(params, state, "validation")
    assert abs(metrics["loss"] - np.log(10)) < 1.0 and metrics["accuracy"] <= 0.35
    losses = first_train_losses(workload, steps=30, learning_rate=3e-3)
    assert np.mean(losses[-5:]) < 0.5 * losses[0]


# -------------------------------------------------------------------------- digits autoencoder


def test_autoencoder_data_reconstruction_metrics_and_training():
    workload = autoencoder.DIGITS_AUTOENCODER
    workload.load()
    train = workload._split("train")["inputs"]
    assert train.shape == (1197, 64) and 0.0 <= train.min() and train.max() <= 1.0
    np.testing.assert_array_equal(
        train, digits.load_digits_splits()["train"]["images"].reshape(-1, 64)
    )
    batch = next(workload.train_batches(64, seed=0))
    assert set(batch) == {"inputs"} and batch["inputs"].shape == (64, 64)

    params, state = workload.init(jax.random.key(0))
    assert params["code"]["kernel"].shape == (64, 8)
    validation = workload._split("validation")["inputs"]
    logits = jax.jit(workload.model.apply)({"params": params}, validation)
    assert logits.shape == (300, 64)
    expected = np.mean(np.sum((jax.nn.sigmoid(logits) - validation) ** 2, axis=-1))
    metrics = workload.evaluate(params, state, "validation")
    assert metrics["squared_error"] == pytest.approx(float(expected), rel=1e-5)
    losses = first_train_losses(workload, steps=40, learning_rate=3e-3)
    assert np.mean(losses[-5:]) < 0.7 * losses[0]
