"""Learning-rate schedules shared by submissions: optax-compatible `step -> lr` functions.

Every builder here returns an `optax.Schedule`: a pure function of the step written with
`jax.numpy`, so it can be jitted and passed as `learning_rate` to `optax.inject_hyperparams`
(which keeps the value applied at each step in the optimizer state, where the runner logs it).

Conventions, shared by every schedule:

- `step` is the number of updates already applied (optax's `count`): the first update uses the
  value at step 0, the last of a `total_steps`-update run the value at `total_steps - 1`.
- Linear warmup goes from 0 at step 0 to the peak at `warmup_steps` (lr = peak * t / W), as in
  the AlgoPerf NadamW baseline and `optax.warmup_cosine_decay_schedule`.
- Step counts are Python integers fixed when the schedule is built; only `step` is traced.
- A decay that ends at `total_steps` holds its end value afterwards.

Decay shapes (`DECAY_SHAPES`), each a factor f(x) on x in [0, 1] with f(0) = 1 and f(1) = 0:

    linear       f(x) = 1 - x
    cosine       f(x) = (1 + cos(pi x)) / 2
    1-sqrt       f(x) = 1 - sqrt(x)                      (Hägele et al. 2024, arXiv 2405.18392)
    exponential  f(x) = (e^(1 - x) - 1) / (e - 1)        (exp(-x), shifted and scaled to end at 0)

`horizon(step_hint, factor)` gives the steps a schedule spans: the whole step hint, or the
3/4 of it that AlgoPerf's target-setting runs and externally tuned baselines use.

Schedules:

- `warmup_cosine`: warmup, cosine decay to `end_value` at `total_steps` (the AlgoPerf baseline's
  schedule; Loshchilov & Hutter 2017, arXiv 1608.03983). Delegates to optax.
- `warmup_linear`: warmup, linear decay to `end_value` at `total_steps`. Built from optax pieces.
- `wsd`: warmup-stable-decay (Hu et al. 2024, MiniCPM, arXiv 2404.06395; Hägele et al. 2024,
  arXiv 2405.18392), cooldown over the last `cooldown_fraction` of the run; `wsd_branch_start`
  gives where a budget's cooldown leaves the shared constant run (Wen et al. 2024, arXiv
  2410.05192, the river-valley view).
- `rex`: the REX profile (Chen, Wolfe & Kyrillidis, MLSys 2022, arXiv 2107.04197).
- `power`: the Power scheduler (Shen et al. 2024, arXiv 2408.13359), with `power_amplitude`.
- `infinite`: the infinite schedule (Ibrahim et al. 2024, arXiv 2403.08763; Singh et al. 2025,
  "Beyond Cosine Decay", arXiv 2503.02844).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax.numpy as jnp
import optax

DecayShape = Callable[[jnp.ndarray], jnp.ndarray]

DECAY_SHAPES: dict[str, DecayShape] = {
    "linear": lambda x: 1.0 - x,
    "cosine": lambda x: 0.5 * (1.0 + jnp.cos(jnp.pi * x)),
    "1-sqrt": lambda x: 1.0 - jnp.sqrt(x),
    "exponential": lambda x: (jnp.exp(1.0 - x) - 1.0) / (math.e - 1.0),
}


def decay_shape(name: str) -> DecayShape:
    """The decay factor f(x) called `name` (see the module docstring); ValueError if unknown."""
    try:
        return DECAY_SHAPES[name]
    except KeyError:
        raise ValueError(
            f"unknown decay shape {name!r}; choose one of {', '.join(DECAY_SHAPES)}"
        ) from None


def _check_steps(total_steps: int, warmup_steps: int) -> None:
    if int(total_steps) != total_steps or total_steps < 1:
        raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
    if int(warmup_steps) != warmup_steps or not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            f"warmup_steps must be an integer in [0, total_steps={total_steps}], "
            f"got {warmup_steps!r}"
        )


def _as_float(step) -> jnp.ndarray:
    return jnp.asarray(step, jnp.float32)


def _warmup_factor(t: jnp.ndarray, warmup_steps: int) -> jnp.ndarray:
    """t / W during the warmup, 1 after it (1 throughout when there is no warmup)."""
    if warmup_steps == 0:
        return jnp.ones_like(t)
    return jnp.clip(t / warmup_steps, 0.0, 1.0)


def _progress(t: jnp.ndarray, start: int, length: int) -> jnp.ndarray:
    """(t - start) / length clipped to [0, 1]; a phase of length 0 is complete at its start."""
    if length <= 0:
        return jnp.where(t >= start, 1.0, 0.0)
    return jnp.clip((t - start) / length, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# The horizon: how much of the step hint a schedule spans
# --------------------------------------------------------------------------------------------


def horizon(step_hint: int, factor: float = 1.0) -> int:
    """The steps a schedule spans when the workload's step hint is `step_hint`:
    max(1, int(factor * step_hint)). Warmup and decay are both measured in these steps.

    factor 1 spans the whole hint (AlgoPerf's self-tuning NadamW baseline). factor 0.75 is the
    horizon of AlgoPerf's target-setting runs and of its externally tuned prize-qualification
    NadamW, which builds its schedule for 0.75 * step_hint (mlcommons/algorithmic-efficiency,
    reference_algorithms/prize_qualification_baselines/external_tuning/
    *_nadamw_target_setting.py); `bench set-targets` trains for the same 3/4
    (`bench.targets.target_setting_steps`). On the cpu tier a budget set so that the
    target-setting run meets its target at about 3/4 of it holds about 0.9 of the step hint,
    so a schedule spanning the hint is still decaying when the budget ends (README, workloads).
    """
    if not 0.0 < factor <= 1.0:
        raise ValueError(f"horizon factor {factor} must be in (0, 1]")
    return max(1, int(factor * step_hint))


# --------------------------------------------------------------------------------------------
# Warmup + cosine, warmup + linear decay
# --------------------------------------------------------------------------------------------


def warmup_cosine(
    peak: float, total_steps: int, warmup_steps: int, end_value: float = 0.0
) -> optax.Schedule:
    """Linear warmup 0 -> peak over `warmup_steps`, then cosine decay to `end_value` at
    `total_steps` (SGDR's half cosine, Loshchilov & Hutter 2017, arXiv 1608.03983):

        lr(t) = end + (peak - end) * (1 + cos(pi * (t - W) / (T - W))) / 2,   W <= t <= T.

    This is `optax.warmup_cosine_decay_schedule` (whose `decay_steps` counts the warmup too).
    """
    _check_steps(total_steps, warmup_steps)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=peak,
        warmup_steps=warmup_steps,
        decay_steps=max(total_steps, warmup_steps + 1),
        end_value=end_value,
    )


def warmup_linear(
    peak: float, total_steps: int, warmup_steps: int, end_value: float = 0.0
) -> optax.Schedule:
    """Linear warmup 0 -> peak over `warmup_steps`, then linear decay to `end_value` at
    `total_steps`:

        lr(t) = end + (peak - end) * (1 - (t - W) / (T - W)),   W <= t <= T.

    Two `optax.linear_schedule`s joined at the end of the warmup.
    """
    _check_steps(total_steps, warmup_steps)
    return optax.join_schedules(
        [
            optax.linear_schedule(0.0, peak, max(warmup_steps, 1)),
            optax.linear_schedule(peak, end_value, max(total_steps - warmup_steps, 1)),
        ],
        [warmup_steps],
    )


# --------------------------------------------------------------------------------------------
# WSD: warmup, stable, decay (cooldown); branches of one constant run
# --------------------------------------------------------------------------------------------


def wsd_branch_start(budget: int, cooldown_fraction: float) -> int:
    """The step at which the WSD schedule for a run of `budget` steps starts its cooldown.

    WSD runs of any budgets share the same warmup and constant phase; the run for budget B
    leaves that constant "main branch" at B - round(cooldown_fraction * B). So one long
    constant-lr run, checkpointed there, can be branched into a cooldown for each budget
    (Hägele et al. 2024, arXiv 2405.18392; Wen et al. 2024, arXiv 2410.05192).
    """
    if int(budget) != budget or budget < 1:
        raise ValueError(f"budget must be a positive integer, got {budget!r}")
    if not 0.0 <= cooldown_fraction <= 1.0:
        raise ValueError(f"cooldown_fraction must be in [0, 1], got {cooldown_fraction!r}")
    return int(budget) - int(round(cooldown_fraction * budget))


def wsd(
    peak: float,
    total_steps: int,
    warmup_steps: int,
    cooldown_fraction: float = 0.2,
    shape: str = "1-sqrt",
    end_value: float = 0.0,
) -> optax.Schedule:
    """Warmup-stable-decay (Hu et al. 2024, MiniCPM, arXiv 2404.06395; Hägele et al. 2024,
    "Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations", arXiv
    2405.18392). With S = `wsd_branch_start(T, cooldown_fraction)` and f the decay `shape`:

        lr(t) = peak * t / W                                   0 <= t < W     (warmup)
                peak                                           W <= t < S     (stable)
                end + (peak - end) * f((t - S) / (T - S))      S <= t <= T    (cooldown)
                end                                            t > T

    Hägele et al. find a cooldown of 10-20% of the run with the 1-sqrt shape matching or beating
    cosine. Schedules for different budgets with the same `warmup_steps` are identical up to the
    earlier cooldown start: each is a branch of the same constant run (Wen et al. 2024,
    "Understanding Warmup-Stable-Decay Learning Rates: A River Valley Loss Landscape
    Perspective", arXiv 2410.05192).
    """
    _check_steps(total_steps, warmup_steps)
    decay = decay_shape(shape)
    start = wsd_branch_start(total_steps, cooldown_fraction)
    if start < warmup_steps:
        raise ValueError(
            f"the cooldown would start at step {start}, inside the warmup ({warmup_steps} "
            f"steps): lower cooldown_fraction ({cooldown_fraction}) or warmup_steps"
        )
    length = total_steps - start

    def schedule(step):
        t = _as_float(step)
        cooldown = end_value + (peak - end_value) * decay(_progress(t, start, length))
        return jnp.where(t < start, peak * _warmup_factor(t, warmup_steps), cooldown)

    return schedule


# --------------------------------------------------------------------------------------------
# REX
# --------------------------------------------------------------------------------------------


def rex(
    peak: float, total_steps: int, warmup_steps: int = 0, end_value: float = 0.0
) -> optax.Schedule:
    """The REX ("reflected exponential") profile of Chen, Wolfe & Kyrillidis, "REX: Revisiting
    Budgeted Training with an Improved Schedule" (MLSys 2022, arXiv 2107.04197), sampled at
    every step as the paper recommends. With progress p = (t - W) / (T - W) after the warmup:

        lr(t) = end + (peak - end) * (1 - p) / (1 - p / 2)

    (the paper writes the denominator 1/2 + (1 - p)/2). Values of (1 - p)/(1 - p/2) at
    p = 0, .25, .5, .75, .9, 1: 1, 0.85714, 0.66667, 0.4, 0.18182, 0. The paper's profile has
    no warmup; `warmup_steps` (default 0) prepends the usual linear one.
    """
    _check_steps(total_steps, warmup_steps)
    length = total_steps - warmup_steps

    def schedule(step):
        t = _as_float(step)
        p = _progress(t, warmup_steps, length)
        decayed = end_value + (peak - end_value) * (1.0 - p) / (1.0 - 0.5 * p)
        return jnp.where(t < warmup_steps, peak * _warmup_factor(t, warmup_steps), decayed)

    return schedule


# --------------------------------------------------------------------------------------------
# Power scheduler
# --------------------------------------------------------------------------------------------


def power_amplitude(peak: float, exponent: float, batch_size: int, crossover_samples: float):
    """The amplitude a at which the Power scheduler's law batch * a * n^b meets `peak` after
    `crossover_samples` examples: a = peak / (batch * crossover^b).

    The paper's a = 4, b = -0.51 are fitted for muP language models with n counted in tokens;
    on other workloads the crossover point is the meaningful knob, and this converts it.
    """
    if crossover_samples <= 0:
        raise ValueError(f"crossover_samples must be positive, got {crossover_samples!r}")
    return peak / (batch_size * crossover_samples**exponent)


def power(
    peak: float,
    amplitude: float,
    exponent: float,
    batch_size: int,
    total_steps: int,
    warmup_steps: int,
    decay_fraction: float = 0.1,
    shape: str = "exponential",
) -> optax.Schedule:
    """The Power scheduler of Shen et al. 2024, "Power Scheduler: A Batch Size and Token Number
    Agnostic Learning Rate Scheduler" (arXiv 2408.13359). With n = t * batch the number of
    examples seen before step t (tokens in the paper), a = `amplitude`, b = `exponent`:

        lr_power(n) = min(peak, batch * a * n^b)

        lr(t) = (t / W) * lr_power(W * batch)            0 <= t < W          (warmup)
                lr_power(t * batch)                      W <= t < T - D      (power law)
                f((t - T + D) / D) * lr_power((T - D) * batch)   T - D <= t <= T   (decay)
                0                                        t > T

    where D = round(decay_fraction * T) and f is the decay `shape`. The paper fits b = -0.51
    and a = 4 (muP transformers, n in tokens, peak 0.02). The paper leaves f open and its
    authors' training runs anneal exponentially; the default "exponential" is exp(-x) scaled
    to fall from 1 to 0 (see the module docstring). Up to its decay phase the schedule does not
    depend on the step budget, and through a and b it adapts to the batch size: the point of the
    paper.
    """
    _check_steps(total_steps, warmup_steps)
    decay = decay_shape(shape)
    decay_start = wsd_branch_start(total_steps, decay_fraction)
    if decay_start < warmup_steps:
        raise ValueError(
            f"the decay would start at step {decay_start}, inside the warmup ({warmup_steps} steps)"
        )
    decay_steps = total_steps - decay_start

    def law(samples):
        # n^b is infinite at n = 0 (b < 0); the min with the peak then gives the peak.
        return jnp.minimum(peak, batch_size * amplitude * jnp.maximum(samples, 1.0) ** exponent)

    def schedule(step):
        t = _as_float(step)
        warmup = _warmup_factor(t, warmup_steps) * law(float(warmup_steps * batch_size))
        stable = law(t * batch_size)
        final = decay(_progress(t, decay_start, decay_steps)) * law(
            float(decay_start * batch_size)
        )
        return jnp.where(t < warmup_steps, warmup, jnp.where(t < decay_start, stable, final))

    return schedule


# --------------------------------------------------------------------------------------------
# Infinite schedule
# --------------------------------------------------------------------------------------------


def infinite(
    peak: float,
    constant_value: float,
    end_value: float,
    total_steps: int,
    warmup_steps: int,
    cooldown_steps: int,
    anneal_steps: int,
) -> optax.Schedule:
    """The infinite learning-rate schedule (Ibrahim et al. 2024, "Simple and Scalable Strategies
    to Continually Pre-train Large Language Models", arXiv 2403.08763; studied further by Singh
    et al. 2025, "Beyond Cosine Decay: On the effectiveness of Infinite Learning Rate Schedule
    for Continual Pre-training", arXiv 2503.02844). With C = W + cooldown_steps the end of the
    cooldown and A = T - anneal_steps the start of the final anneal:

        lr(t) = peak * t / W                                              0 <= t < W
                const + (peak - const) * (1 + cos(pi (t - W) / (C - W))) / 2   W <= t < C
                const                                                     C <= t < A
                const * (end / const)^((t - A) / (T - A))                 A <= t <= T
                end                                                       t > T

    The constant phase can last any number of steps and be annealed from any point, so, as with
    WSD, schedules with different budgets agree up to the earlier anneal start.
    """
    _check_steps(total_steps, warmup_steps)
    cooldown_end = warmup_steps + cooldown_steps
    anneal_start = total_steps - anneal_steps
    if cooldown_steps < 0 or anneal_steps < 0 or cooldown_end > anneal_start:
        raise ValueError(
            f"warmup ({warmup_steps}) + cooldown ({cooldown_steps}) + anneal ({anneal_steps}) "
            f"steps must be non-negative and fit in total_steps ({total_steps})"
        )
    if constant_value <= 0 or end_value <= 0:
        raise ValueError("the exponential anneal needs constant_value > 0 and end_value > 0")
    ratio = end_value / constant_value

    def schedule(step):
        t = _as_float(step)
        x = _progress(t, warmup_steps, cooldown_steps)
        cooldown = constant_value + (peak - constant_value) * 0.5 * (1.0 + jnp.cos(jnp.pi * x))
        anneal = constant_value * ratio ** _progress(t, anneal_start, anneal_steps)
        after_cooldown = jnp.where(t < anneal_start, constant_value, anneal)
        return jnp.where(
            t < warmup_steps,
            peak * _warmup_factor(t, warmup_steps),
            jnp.where(t < cooldown_end, cooldown, after_cooldown),
        )

    return schedule
