"""The schedule multiplier that learning-rate-free methods accept in place of a learning rate.

Prodigy, D-Adaptation, DoG and Mechanic estimate the step size themselves; their packages
still take an `lr` that multiplies the estimate (1 by default), through which a user may add
warmup or decay. `multiplier_schedule` builds that multiplier from a submission's
hyperparameters: constant, or linear warmup then cosine or linear decay to 0 at `step_hint`
(`bench.schedules`; the warmup goes from 0 at step 0 to the peak at `warmup_factor * step_hint`).
`lr_free_optimizer` builds such a method's optimizer from the hyperparameters they share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import optax

from bench import schedules
from bench.optim.grad_clip import with_grad_clip

SHAPES = ("constant", "cosine", "linear")


def multiplier_schedule(
    peak: float, shape: str, warmup_factor: float, step_hint: int
) -> optax.Schedule:
    """`peak`, constant or decayed to 0 at `step_hint` (`shape` in SHAPES), after warmup."""
    warmup_steps = int(warmup_factor * step_hint)
    if shape == "constant":
        return schedules.warmup_linear(peak, step_hint, warmup_steps, end_value=peak)
    if shape == "cosine":
        return schedules.warmup_cosine(peak, step_hint, warmup_steps)
    if shape == "linear":
        return schedules.warmup_linear(peak, step_hint, warmup_steps)
    raise ValueError(f"unknown schedule {shape!r}; choose one of {', '.join(SHAPES)}")


def lr_free_optimizer(
    update_rule: Callable[..., optax.GradientTransformation],
    hparams: Mapping[str, Any],
    step_hint: int,
    **rule_args: Any,
) -> optax.GradientTransformation:
    """`update_rule(learning_rate=multiplier, **rule_args)`, its gradients clipped first.

    The multiplier is `multiplier_schedule` of hparams "lr_multiplier" (the peak), "schedule"
    and "warmup_factor" over `schedules.horizon(step_hint, hparams["horizon_factor"])` steps;
    hparams "grad_clip" is the global norm to clip to (null: none, `bench.optim.grad_clip`).
    """
    steps = schedules.horizon(step_hint, hparams["horizon_factor"])
    multiplier = multiplier_schedule(
        hparams["lr_multiplier"], hparams["schedule"], hparams["warmup_factor"], steps
    )
    return with_grad_clip(update_rule(learning_rate=multiplier, **rule_args), hparams["grad_clip"])
