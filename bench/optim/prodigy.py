"""Prodigy as in the authors' package (Mishchenko & Defazio 2024, arXiv 2306.06101).

Prodigy is Adam whose step size d_k estimates the distance from the initial point x_0 to the
solution. With gradient g_k at x_k, the schedule multiplier gamma_k (the package's `lr`, 1 by
default), beta3 = sqrt(beta2) unless given, and k = 0, 1, ...:

    dlr_k = d_k gamma_k c_k,  c_k = sqrt(1 - beta2^(k+1)) / (1 - beta1^(k+1)) with bias
            correction, else c_k = 1 (the package's default: off)
    m     = beta1 m + (1 - beta1) d_k g_k
    v     = beta2 v + (1 - beta2) d_k^2 g_k^2
    r     = beta3 r + (d_k / d_0) dlr_k <g_k, x_0 - x_k>
    s     = beta3 s + (d_k / d_0) dlr_k g_k        (safeguard_warmup: d_k instead of dlr_k)
    d_hat = d_coef r / ||s||_1
    d_max = max(d_max, d_hat),  d_{k+1} = min(d_max, growth_rate d_k)
    x_{k+1} = x_k - dlr_k wd x_k - dlr_k m / (sqrt(v) + d_{k+1} eps)

(while d_k still equals d_0, d is first raised to max(d_0, d_hat), which matters only with a
finite growth_rate). Weight decay is decoupled as above by default; `decouple=False` adds
wd x_k to the gradient instead. As in the package, a step whose schedule multiplier is 0
changes nothing but the schedule's counter, and a step with ||s||_1 = 0 (all gradients zero
so far) updates the moments but neither d nor x.

Differences from `optax.contrib.prodigy`: optax always applies Adam's bias correction c_k
(the package leaves it off by default, so the two differ from the first step on), has no
`decouple` (coupled weight decay) or `growth_rate`, and does not skip steps at a zero schedule
multiplier; this module follows the package. The package's `slice_p` (statistics on every
p-th entry) is not provided (= 1).

`state.hyperparams["learning_rate"]` holds dlr_k, the step size of the last update (the value
`bench.trial.loop` logs as the applied learning rate).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class ProdigyState(NamedTuple):
    count: jax.Array  # updates so far (drives the schedule), int32
    k: jax.Array  # updates that moved x (drives the bias correction, as the package's k), int32
    params0: optax.Params  # x_0, the parameters given to init
    exp_avg: optax.Updates  # m
    exp_avg_sq: optax.Updates  # v
    s: optax.Updates  # weighted gradient sum
    numerator: jax.Array  # r
    d: jax.Array  # current distance estimate d_k
    d_max: jax.Array
    hyperparams: dict  # {"learning_rate": dlr of the last update}


def prodigy(
    learning_rate: optax.ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    beta3: float | None = None,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decouple: bool = True,
    use_bias_correction: bool = False,
    safeguard_warmup: bool = False,
    d0: float = 1e-6,
    d_coef: float = 1.0,
    growth_rate: float = math.inf,
) -> optax.GradientTransformation:
    """Prodigy (module docstring); defaults are the package's. Returns the full update."""
    beta3 = math.sqrt(b2) if beta3 is None else beta3

    def init_fn(params):
        dtype = optax.tree.dtype(params, "lowest")
        scalar = lambda value: jnp.asarray(value, dtype)  # noqa: E731
        return ProdigyState(
            count=jnp.zeros([], jnp.int32),
            k=jnp.zeros([], jnp.int32),
            params0=jax.tree.map(jnp.array, params),
            exp_avg=optax.tree.zeros_like(params),
            exp_avg_sq=optax.tree.zeros_like(params),
            s=optax.tree.zeros_like(params),
            numerator=scalar(0.0),
            d=scalar(d0),
            d_max=scalar(d0),
            hyperparams={"learning_rate": scalar(0.0)},
        )

    def update_fn(grads, state, params=None):
        if params is None:
            raise ValueError("prodigy needs the current parameters: update(grads, state, x)")
        dtype = state.d.dtype
        gamma = learning_rate(state.count) if callable(learning_rate) else learning_rate
        gamma = jnp.asarray(gamma, dtype)
        if weight_decay and not decouple:
            grads = jax.tree.map(lambda g, p: g + weight_decay * p, grads, params)
        d = state.d
        if use_bias_correction:
            t = (state.k + 1).astype(dtype)
            correction = jnp.sqrt(1 - b2**t) / (1 - b1**t)
        else:
            correction = jnp.asarray(1.0, dtype)
        dlr = d * gamma * correction
        active = gamma > 0  # the package skips every statistic at lr = 0

        exp_avg = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * d * g, state.exp_avg, grads)
        exp_avg_sq = jax.tree.map(
            lambda v, g: b2 * v + (1 - b2) * d * d * g * g, state.exp_avg_sq, grads
        )
        s_rate = (d / d0) * (d if safeguard_warmup else dlr)
        s = jax.tree.map(lambda si, g: beta3 * si + s_rate * g, state.s, grads)

        def keep(new, old):  # the package leaves its statistics alone at a zero multiplier
            return jax.tree.map(lambda a, b: jnp.where(active, a, b), new, old)

        exp_avg, exp_avg_sq, s = (
            keep(exp_avg, state.exp_avg),
            keep(exp_avg_sq, state.exp_avg_sq),
            keep(s, state.s),
        )

        distance = jax.tree.map(lambda p0, p: p0 - p, state.params0, params)
        numerator = beta3 * state.numerator + (d / d0) * dlr * optax.tree.vdot(grads, distance)
        denominator = jnp.where(active, optax.tree.sum(jax.tree.map(jnp.abs, s)), 0.0)
        moved = denominator > 0  # the package returns early (no d, no step) otherwise

        d_hat = d_coef * numerator / jnp.where(moved, denominator, 1.0)
        d_raised = jnp.where(d == d0, jnp.maximum(d, d_hat), d)
        d_max = jnp.maximum(state.d_max, d_hat)
        new_d = jnp.minimum(d_max, d_raised * growth_rate)

        def step(m, v, p):
            update = -dlr * m / (jnp.sqrt(v) + new_d * eps)
            if weight_decay and decouple:
                update = update - weight_decay * dlr * p
            return jnp.where(moved, update, jnp.zeros_like(update))

        updates = jax.tree.map(step, exp_avg, exp_avg_sq, params)
        new_state = ProdigyState(
            count=optax.safe_increment(state.count),
            k=state.k + moved.astype(jnp.int32),
            params0=state.params0,
            exp_avg=exp_avg,
            exp_avg_sq=exp_avg_sq,
            s=s,
            numerator=jnp.where(moved, numerator, state.numerator),
            d=jnp.where(moved, new_d, d).astype(dtype),
            d_max=jnp.where(moved, d_max, state.d_max).astype(dtype),
            hyperparams={"learning_rate": jnp.where(moved, dlr, 0.0).astype(dtype)},
        )
        return updates, new_state

    return optax.GradientTransformation(init_fn, update_fn)
