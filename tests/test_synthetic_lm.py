"""The synthetic_lm workload: HMM data, the exact cross-entropy floor, a causal Transformer."""

import dataclasses
import re

import jax
import numpy as np
import optax
import pytest
from click.testing import CliRunner

from bench import registry
from bench.cli import main
from workloads import synthetic_lm
from workloads.synthetic_lm import HMM, HMMSource

SMALL = HMMSource(sequence_length=12, train_sequences=300, validation_sequences=70,
                  test_sequences=50)


def small_workload(eval_batch_size: int = 32) -> synthetic_lm.SyntheticLMWorkload:
    workload = synthetic_lm.SyntheticLMWorkload(
        synthetic_lm.SYNTHETIC_LM.spec, SMALL, width=16, num_heads=2,
        eval_batch_size=eval_batch_size)
    workload.load()
    return workload


def rows(tokens: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in tokens}


def binary_entropy(p: float) -> float:
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


# ------------------------------------------------------------------------------------- the data


def test_splits_are_fixed_by_the_seed_disjoint_and_shaped():
    splits = synthetic_lm.make_splits(SMALL)
    assert {name: tokens.shape for name, tokens in splits.items()} == {
        "train": (300, 13), "validation": (70, 13), "test": (50, 13)}
    for tokens in splits.values():
        assert tokens.dtype == np.int32
        assert tokens.min() >= 0 and tokens.max() < SMALL.vocab_size
    again = synthetic_lm.make_splits(SMALL)
    for name in splits:
        np.testing.assert_array_equal(again[name], splits[name])
    assert not rows(splits["train"]) & rows(splits["validation"])
    assert not rows(splits["train"]) & rows(splits["test"])
    assert not rows(splits["validation"]) & rows(splits["test"])
    other = synthetic_lm.make_splits(dataclasses.replace(SMALL, seed=1))
    assert not np.array_equal(other["validation"], splits["validation"])
    # each split has its own stream: a larger training split leaves validation as it was
    larger = dataclasses.replace(SMALL, train_sequences=600)
    np.testing.assert_array_equal(synthetic_lm.make_splits(larger)["validation"],
                                  splits["validation"])


def test_the_hmm_is_stochastic_and_starts_stationary():
    hmm = synthetic_lm.draw_hmm(SMALL)
    assert hmm.transition.shape == (32, 32) and hmm.emission.shape == (32, 32)
    np.testing.assert_allclose(hmm.transition.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(hmm.emission.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(hmm.initial @ hmm.transition, hmm.initial, atol=1e-10)
    # a small concentration: most of each emission row's mass on a few tokens
    top3 = np.sort(hmm.emission, axis=1)[:, -3:].sum(axis=1)
    assert np.median(top3) > 0.9


def test_sampled_chain_has_the_transition_frequencies():
    """States emitting their own index: the tokens are the Markov chain itself."""
    chain = HMM(np.array([[0.9, 0.1], [0.3, 0.7]]), np.eye(2), np.array([0.75, 0.25]))
    tokens = synthetic_lm.sample_sequences(chain, 2000, 50, np.random.default_rng(0))
    counts = np.zeros((2, 2))
    np.add.at(counts, (tokens[:, :-1], tokens[:, 1:]), 1)
    # 100k transitions: the frequencies' standard errors are at most 0.003
    np.testing.assert_allclose(counts / counts.sum(axis=1, keepdims=True), chain.transition,
                               atol=0.015)
    assert abs(np.mean(tokens[:, 0] == 0) - 0.75) < 0.05


# ------------------------------------------------------------------------------------ the floor


def test_floor_of_a_source_whose_states_emit_alike_is_its_token_entropy():
    """Every state emits (1/2, 1/4, 1/4): the tokens are i.i.d., p(x_t | x_<t) = p(x_t)."""
    probs = np.array([0.5, 0.25, 0.25])
    hmm = HMM(np.array([[0.2, 0.8, 0.0], [0.5, 0.0, 0.5], [0.1, 0.1, 0.8]]),
              np.tile(probs, (3, 1)), np.array([1.0, 0.0, 0.0]))
    tokens = synthetic_lm.sample_sequences(hmm, 500, 40, np.random.default_rng(1))
    np.testing.assert_allclose(synthetic_lm.conditional_log_probs(hmm, tokens),
                               np.log(probs[tokens]), rtol=1e-12)
    entropy = 1.5 * np.log(2)  # -(1/2 log 1/2 + 2 * 1/4 log 1/4)
    assert synthetic_lm.cross_entropy_floor(hmm, tokens) == pytest.approx(entropy, abs=0.01)


def test_floor_of_a_visible_markov_chain_is_its_entropy_rate():
    """Deterministic emissions: p(x_t | x_<t) = A[x_{t-1}, x_t]; entropy rate
    sum_i pi_i H(A_i) with pi = (0.75, 0.25) for A = [[0.9, 0.1], [0.3, 0.7]]."""
    chain = HMM(np.array([[0.9, 0.1], [0.3, 0.7]]), np.eye(2), np.array([0.75, 0.25]))
    tokens = synthetic_lm.sample_sequences(chain, 1000, 60, np.random.default_rng(2))
    log_probs = synthetic_lm.conditional_log_probs(chain, tokens)
    np.testing.assert_allclose(log_probs[:, 0], np.log(chain.initial[tokens[:, 0]]))
    np.testing.assert_allclose(log_probs[:, 1:],
                               np.log(chain.transition[tokens[:, :-1], tokens[:, 1:]]),
                               rtol=1e-12)
    rate = 0.75 * binary_entropy(0.1) + 0.25 * binary_entropy(0.3)  # 0.3965 nats
    assert synthetic_lm.cross_entropy_floor(chain, tokens) == pytest.approx(rate, abs=0.01)


def test_forward_step_worked_by_hand():
    """A = [[.9, .1], [.2, .8]], B = [[.7, .3], [.1, .9]], uniform start, tokens 0 then 0 or 1:
    p(x0=0) = .5*.7 + .5*.1 = .4; p(z0 | x0=0) = (7/8, 1/8);
    p(z1 | x0=0) = 7/8*(.9, .1) + 1/8*(.2, .8) = (.8125, .1875);
    p(x1=0 | x0=0) = .8125*.7 + .1875*.1 = .5875, p(x1=1 | x0=0) = .4125."""
    hmm = HMM(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.7, 0.3], [0.1, 0.9]]),
              np.array([0.5, 0.5]))
    log_probs = synthetic_lm.conditional_log_probs(hmm, np.array([[0, 0], [0, 1]]))
    np.testing.assert_allclose(np.exp(log_probs), [[0.4, 0.5875], [0.4, 0.4125]], rtol=1e-12)
    floor = synthetic_lm.cross_entropy_floor(hmm, np.array([[0, 0], [0, 1]]))
    assert floor == pytest.approx(-(np.log(0.5875) + np.log(0.4125)) / 2, rel=1e-12)


def test_the_docstring_states_the_validation_floor():
    stated = re.search(r"the floor is ([0-9.]+) nats per token", synthetic_lm.__doc__)
    workload = synthetic_lm.SYNTHETIC_LM
    workload.load()
    assert float(stated.group(1)) == pytest.approx(workload.validation_floor(), abs=5e-5)
    assert workload.validation_floor() < workload.spec.validation_target


# --------------------------------------------------------------------------------- the workload


def test_synthetic_lm_is_a_listed_cpu_workload_with_a_loss_target():
    workload = registry.all_workloads()["synthetic_lm"]
    spec = workload.spec
    assert spec.tier == "cpu" and spec.target_metric == "loss" and not spec.higher_is_better
    assert "bench set-targets -w synthetic_lm " in spec.calibration
    listed = CliRunner().invoke(main, ["list", "workloads", "--tier", "cpu"])
    assert listed.exit_code == 0 and "synthetic_lm" in listed.output


def test_eval_batches_cover_every_sequence_once_and_metrics_are_per_token():
    workload = small_workload(eval_batch_size=32)  # 70 = 32 + 32 + 6 real sequences
    batches = list(workload.eval_batches("validation"))
    assert [batch["tokens"].shape for batch in batches] == [(32, 13)] * 3
    assert [int(batch["mask"].sum()) for batch in batches] == [32, 32, 6]
    real = np.concatenate([batch["tokens"][batch["mask"] == 1] for batch in batches])
    np.testing.assert_array_equal(real, workload._split("validation"))

    params, state = workload.init(jax.random.key(0))
    tokens = workload._split("validation")
    logits = np.asarray(jax.jit(workload.model.apply)({"params": params}, tokens[:, :-1]))
    assert logits.shape == (70, 12, SMALL.vocab_size)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    targets = tokens[:, 1:]
    token_losses = -np.take_along_axis(log_softmax, targets[..., None], axis=-1)[..., 0]
    metrics = workload.evaluate(params, state, "validation")
    assert metrics["loss"] == pytest.approx(token_losses.mean(), rel=1e-5)
    assert metrics["accuracy"] == pytest.approx(np.mean(logits.argmax(-1) == targets), abs=1e-6)
    assert abs(metrics["loss"] - np.log(SMALL.vocab_size)) < 1.0  # untrained: near uniform


def test_the_model_is_causal():
    workload = small_workload()
    params, _ = workload.init(jax.random.key(1))
    tokens = workload._split("train")[:4, :-1]
    changed = tokens.copy()
    changed[:, 7] = (changed[:, 7] + 1) % SMALL.vocab_size
    apply = jax.jit(workload.model.apply)
    before, after = apply({"params": params}, tokens), apply({"params": params}, changed)
    np.testing.assert_allclose(before[:, :7], after[:, :7], rtol=1e-5, atol=1e-6)
    assert not np.allclose(before[:, 7:], after[:, 7:])


def test_training_batches_follow_the_seed_and_a_few_steps_lower_the_loss():
    workload = small_workload()
    first = next(workload.train_batches(16, seed=3))
    assert set(first) == {"tokens"} and first["tokens"].shape == (16, 13)
    again = next(workload.train_batches(16, seed=3))
    np.testing.assert_array_equal(first["tokens"], again["tokens"])
    assert not np.array_equal(first["tokens"], next(workload.train_batches(16, seed=4))["tokens"])

    params, state = workload.init(jax.random.key(0))
    optimizer = optax.adam(1e-2)
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, batch):
        loss, grads = jax.value_and_grad(
            lambda p: workload.loss(p, state, batch, jax.random.key(1), True)[0])(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    batches, losses = workload.train_batches(32, seed=0), []
    for _ in range(40):
        params, opt_state, loss = step(params, opt_state, next(batches))
        losses.append(float(loss))
    assert np.mean(losses[-5:]) < losses[0] - 0.5
    floor = synthetic_lm.cross_entropy_floor(synthetic_lm.draw_hmm(SMALL),
                                             workload._split("validation"))
    assert workload.evaluate(params, state, "validation")["loss"] > floor - 0.05
