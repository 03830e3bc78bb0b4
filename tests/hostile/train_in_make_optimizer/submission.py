"""Hostile: trains with Adam on the validation split inside make_optimizer (before the clock),
then jumps to the trained parameters in its first update."""

import gc
import time

import jax
import optax

from bench.workload import Workload

DEFAULT_HPARAMS = {"learning_rate": 1e-6, "seconds": 1.5}


def _the_workload(name):
    return next(obj for obj in gc.get_objects() if isinstance(obj, Workload) and obj.name == name)


def make_optimizer(hparams, workload_info):
    workload = _the_workload(workload_info.name)
    workload.load()
    batch = next(iter(workload.eval_batches("validation")))
    params, state = workload.init(jax.random.key(0))
    adam = optax.adam(0.05)
    opt_state = adam.init(params)

    @jax.jit
    def step(params, opt_state):
        grads = jax.grad(lambda p: workload.loss(p, state, batch, jax.random.key(0), False)[0])(
            params)
        updates, opt_state = adam.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    start = time.perf_counter()
    while time.perf_counter() - start < hparams["seconds"]:
        params, opt_state = step(params, opt_state)
    trained = jax.device_get(params)

    def update(updates, state, params=None):
        return jax.tree.map(lambda t, p: t - p, trained, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)
