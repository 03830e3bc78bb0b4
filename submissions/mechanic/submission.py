"""Mechanic around AdamW: a learned scale on the base optimizer's updates (Cutkosky et al. 2023).

Update rule: `bench.optim.mechanic` (the mechanic-pytorch package's rule and defaults:
s_decay 0.01, six betas 0.9 ... 0.999999, s_init 1e-8) around a base optimizer (`base`:
adamw, sgd or lion from optax) whose learning rate is `base_learning_rate`, optionally shaped
by a schedule; Mechanic learns the scale on top. `calibrated.json` beside this file is the
calibrated point (see README.md).
"""

import optax

from bench.optim.grad_clip import with_grad_clip
from bench.optim.mechanic import mechanize
from bench.optim.multiplier_schedule import multiplier_schedule
from bench.schedules import horizon

# mechanize(torch.optim.AdamW)(params, lr=1.0)-style defaults: the package's Mechanic settings
# around Adam with its usual betas, learning rate 1 (the scale is learned) and no decay of its own.
DEFAULT_HPARAMS = {
    "base": "adamw",  # adamw | sgd | lion
    "base_learning_rate": 1.0,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-8,
    "weight_decay": 0.0,  # the base optimizer's own (decoupled) weight decay
    "s_decay": 0.01,
    "s_init": 1e-8,
    "store_delta": False,
    "schedule": "constant",  # constant | cosine | linear
    "warmup_factor": 0.0,
    "grad_clip": None,
    "horizon_factor": 1.0,  # the schedule spans horizon_factor * step_hint (bench.schedules.horizon)
}


def base_optimizer(hparams, schedule) -> optax.GradientTransformation:
    name = hparams["base"]
    if name == "adamw":
        return optax.adamw(
            schedule,
            b1=hparams["beta1"],
            b2=hparams["beta2"],
            eps=hparams["eps"],
            weight_decay=hparams["weight_decay"],
        )
    if name == "sgd":
        return optax.chain(
            optax.add_decayed_weights(hparams["weight_decay"]),
            optax.sgd(schedule, momentum=hparams["beta1"] or None),
        )
    if name == "lion":
        return optax.lion(
            schedule, b1=hparams["beta1"], b2=hparams["beta2"], weight_decay=hparams["weight_decay"]
        )
    raise ValueError(f"unknown base optimizer {name!r}; choose adamw, sgd or lion")


def make_optimizer(hparams, workload_info):
    schedule = multiplier_schedule(
        hparams["base_learning_rate"],
        hparams["schedule"],
        hparams["warmup_factor"],
        horizon(workload_info.step_hint, hparams["horizon_factor"]),
    )
    optimizer = mechanize(
        base_optimizer(hparams, schedule),
        s_decay=hparams["s_decay"],
        s_init=hparams["s_init"],
        store_delta=hparams["store_delta"],
    )
    return with_grad_clip(optimizer, hparams["grad_clip"])
