"""SGD with Nesterov momentum and L2 weight decay; linear warmup, then linear decay.

Update rule (Sutskever et al. 2013's form of Nesterov momentum, as `optax.sgd(nesterov=True)`),
with weight decay added to the gradient before the momentum (L2, not decoupled), as in
AlgoPerf's Nesterov baseline:

    d_t     = g_t + wd theta_{t-1}
    mu_t    = beta mu_{t-1} + d_t
    theta_t = theta_{t-1} - lr_t (d_t + beta mu_t)

Schedule (AlgoPerf's Nesterov baseline): linear warmup 0 -> `learning_rate` over
W = int(warmup_factor * H) steps, then linear decay to `end_factor * learning_rate`
over int(decay_steps_factor * (H - W)) steps, constant after; H = `horizon_factor * step_hint`
(`bench.schedules.horizon`: 1 by default, 0.75 in the external search space).
Optional global-norm gradient clipping (`grad_clip`, off when null).
"""

import optax

from bench.optim.grad_clip import with_grad_clip
from bench.schedules import horizon

# Classic image-classification SGD (lr 0.1, momentum 0.9, weight decay 5e-4; He et al. 2016)
# with AlgoPerf's Nesterov schedule shape (warmup 5%, decay over 90% of the rest to 1% of peak).
DEFAULT_HPARAMS = {
    "learning_rate": 0.1,
    "one_minus_beta1": 0.1,
    "weight_decay": 5e-4,
    "warmup_factor": 0.05,
    "decay_steps_factor": 0.9,
    "end_factor": 0.01,
    "grad_clip": None,
    "horizon_factor": 1.0,
}


def warmup_linear_decay(hparams, step_hint: int) -> optax.Schedule:
    """Linear 0 -> peak over W steps, linear peak -> end_factor * peak over
    int(decay_steps_factor * (step_hint - W)) steps, then constant."""
    peak = hparams["learning_rate"]
    warmup_steps = int(hparams["warmup_factor"] * step_hint)
    decay_steps = max(int(hparams["decay_steps_factor"] * (step_hint - warmup_steps)), 1)
    return optax.join_schedules(
        [optax.linear_schedule(0.0, peak, warmup_steps),
         optax.linear_schedule(peak, hparams["end_factor"] * peak, decay_steps)],
        boundaries=[warmup_steps],
    )


def sgd_nesterov_l2(learning_rate, momentum, weight_decay) -> optax.GradientTransformation:
    """L2 weight decay (through the momentum), then Nesterov momentum SGD."""
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.sgd(learning_rate, momentum=momentum, nesterov=True),
    )


def make_optimizer(hparams, workload_info):
    # inject_hyperparams keeps the applied learning rate in the state, where the runner logs it.
    optimizer = optax.inject_hyperparams(sgd_nesterov_l2)(
        learning_rate=warmup_linear_decay(
            hparams, horizon(workload_info.step_hint, hparams["horizon_factor"])),
        momentum=1.0 - hparams["one_minus_beta1"],
        weight_decay=hparams["weight_decay"],
    )
    return with_grad_clip(optimizer, hparams.get("grad_clip"))
