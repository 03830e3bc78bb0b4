"""Shared helpers of the performance benchmarks (not a benchmark itself)."""

from __future__ import annotations

import statistics
import time

import jax
import numpy as np
import optax

from bench import registry, rules
from bench.protocol import ProtocolSettings
from bench.trial.loop import run_trial


def harness_step_seconds(workload, submission, hparams, steps: int) -> tuple[float, object]:
    """Submission time per step of the harness (compilation and evaluation excluded)."""
    settings = ProtocolSettings(max_steps=steps, eval_period=1e12, evaluate_test=False,
                                rules=rules.MACHINE_CLOCK_VERSION)  # seconds of this machine
    result = run_trial(workload, submission, hparams, settings=settings)
    assert result.outcome.value in ("budget", "hit"), result.message
    return result.submission_time / result.steps, result


def bare_step_seconds(workload, submission, hparams, steps: int,
                      log_every: int | None = None, batches=None) -> float:
    """The same training, written as the plain jit-compiled Optax/Flax loop one would write.

    With `log_every`, the loop reads the loss back every that many steps, as a loop that
    prints its loss does (which synchronises host and device); without, it never waits.
    `batches`: an iterator of batches to train on (default: the workload's training stream).
    """
    params, model_state = workload.init(jax.random.split(jax.random.key(0))[0])
    optimizer = submission.make_optimizer(hparams, workload.info(params))
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, model_state, opt_state, batch, rng, index):
        rng = jax.random.fold_in(rng, index)
        (loss, model_state), grads = jax.value_and_grad(workload.loss, has_aux=True)(
            params, model_state, batch, rng, True)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), model_state, opt_state, loss

    if batches is None:
        batches = workload.train_batches(workload.spec.batch_size, 0)
    rng = jax.random.key(1)
    warm = step(params, model_state, opt_state, next(batches), rng, np.int32(0))
    warm = step(*warm[:3], next(batches), rng, np.int32(1))
    jax.block_until_ready(warm)
    start = time.perf_counter()
    for index in range(steps):
        params, model_state, opt_state, loss = step(
            params, model_state, opt_state, next(batches), rng, np.int32(index))
        if log_every and (index + 1) % log_every == 0:
            float(loss)
    jax.block_until_ready((params, loss))
    return (time.perf_counter() - start) / steps


def load(workload_name: str, submission_name: str = "nadamw", data_dir: str | None = None):
    workload = registry.get_workload(workload_name)
    workload.load(data_dir)
    submission = registry.get_submission(submission_name)
    return workload, submission, dict(submission.default_hparams)


def quartiles(values) -> tuple[float, float, float]:
    """First quartile, median and third quartile of the per-round values."""
    low, median, high = statistics.quantiles(values, n=4, method="inclusive")
    return low, median, high
