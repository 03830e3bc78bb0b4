"""AdamW with linear warmup and cosine decay to zero at the step hint (AlgoPerf's AdamW baseline).

Update rule: `optax.adamw` (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization",
arXiv 1711.05101): Adam (Kingma & Ba 2015, arXiv 1412.6980) with bias correction and weight decay
applied through the learning rate, theta <- theta - lr_t (m_hat / (sqrt(v_hat) + eps) + wd theta).
Schedule: `bench.schedules.warmup_cosine`, linear warmup over `warmup_factor * H` steps, then
cosine decay to 0 at H = `horizon_factor * step_hint` (`bench.schedules.horizon`), as in the
NadamW baseline. Optional global-norm gradient clipping (`grad_clip`, off when null).
"""

import optax

from bench.optim.grad_clip import with_grad_clip
from bench.optim.nadam import ALGOPERF_SELF_TUNING_POINT
from bench.schedules import horizon, warmup_cosine

# AlgoPerf's self-tuning NadamW point, carried over to Adam (AlgoPerf publishes no self-tuning
# AdamW point); beta1 is written as 1 - one_minus_beta1 as in AlgoPerf's search spaces.
DEFAULT_HPARAMS = {**ALGOPERF_SELF_TUNING_POINT, "grad_clip": None, "horizon_factor": 1.0}


def make_optimizer(hparams, workload_info):
    steps = horizon(workload_info.step_hint, hparams["horizon_factor"])
    warmup_steps = int(hparams["warmup_factor"] * steps)
    schedule = warmup_cosine(hparams["learning_rate"], steps, warmup_steps)
    # inject_hyperparams keeps the applied learning rate in the state, where the runner logs it.
    optimizer = optax.inject_hyperparams(optax.adamw)(
        learning_rate=schedule,
        b1=1.0 - hparams["one_minus_beta1"],
        b2=hparams["beta2"],
        eps=1e-8,
        weight_decay=hparams["weight_decay"],
    )
    return with_grad_clip(optimizer, hparams.get("grad_clip"))
