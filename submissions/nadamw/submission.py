"""NadamW with linear warmup and cosine decay: the AlgoPerf baseline recipe.

Update rule: `bench.optim.nadam` (the AlgoPerf/init2winit Nadam bias correction, decoupled weight
decay applied through the learning rate). Schedule: linear warmup from 0 to `learning_rate` over
`warmup_factor * step_hint` steps, then cosine decay to 0 at `step_hint`, and 0 after.
Optional global-norm gradient clipping (`grad_clip`, off when null).
"""

import optax

from bench.optim.nadam import nadamw
from bench.schedules import warmup_cosine

# The AlgoPerf self-tuning NadamW point (the baseline's "full budget" hyperparameters).
DEFAULT_HPARAMS = {
    "learning_rate": 0.0017486387539278373,
    "one_minus_beta1": 0.06733926164,
    "beta2": 0.9955159689799007,
    "weight_decay": 0.08121616522670176,
    "warmup_factor": 0.02,
    "grad_clip": None,
}


def make_optimizer(hparams, workload_info):
    warmup_steps = int(hparams["warmup_factor"] * workload_info.step_hint)
    schedule = warmup_cosine(hparams["learning_rate"], workload_info.step_hint, warmup_steps)
    # inject_hyperparams keeps the applied learning rate in the state, where the runner logs it.
    optimizer = optax.inject_hyperparams(nadamw)(
        learning_rate=schedule,
        b1=1.0 - hparams["one_minus_beta1"],
        b2=hparams["beta2"],
        eps=1e-8,
        weight_decay=hparams["weight_decay"],
    )
    if hparams.get("grad_clip") is not None:
        optimizer = optax.chain(optax.clip_by_global_norm(hparams["grad_clip"]), optimizer)
    return optimizer
