"""Schedule-Free AdamW: interpolation and averaging instead of a schedule (Defazio et al. 2024).

Update rule: `bench.optim.schedule_free` (the schedulefree package's AdamWScheduleFree: warmup
to `learning_rate` over `warmup_factor * step_hint` steps, weight decay at y, averaging
weights (k+1)^r lr_max^weight_lr_power). Training runs at y; `eval_params` returns the
averaged sequence x. `calibrated.json` beside this file is the calibrated point (see README.md).
"""

from bench.optim.grad_clip import with_grad_clip
from bench.optim.schedule_free import (
    ScheduleFreeAdamWState,
    schedule_free_adamw,
    schedule_free_eval_params,
)

# schedulefree 1.4's AdamWScheduleFree defaults (lr 0.0025, no warmup, r = 0).
DEFAULT_HPARAMS = {
    "learning_rate": 0.0025,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-8,
    "weight_decay": 0.0,
    "warmup_factor": 0.0,
    "r": 0.0,
    "weight_lr_power": 2.0,
    "grad_clip": None,
}


def make_optimizer(hparams, workload_info):
    optimizer = schedule_free_adamw(
        learning_rate=hparams["learning_rate"],
        warmup_steps=int(hparams["warmup_factor"] * workload_info.step_hint),
        b1=hparams["beta1"],
        b2=hparams["beta2"],
        eps=hparams["eps"],
        weight_decay=hparams["weight_decay"],
        r=hparams["r"],
        weight_lr_power=hparams["weight_lr_power"],
    )
    return with_grad_clip(optimizer, hparams["grad_clip"])


def eval_params(params, opt_state):
    """The averaged sequence x, from the training point y and the state's z."""
    stack = [opt_state]
    while stack:
        node = stack.pop(0)
        if isinstance(node, ScheduleFreeAdamWState):
            return schedule_free_eval_params(params, node)
        if isinstance(node, (tuple, list)):
            stack.extend(node)
    raise TypeError("the optimizer state holds no ScheduleFreeAdamWState")
