"""NadamW with linear warmup and cosine decay: the AlgoPerf baseline recipe.

Update rule: `bench.optim.nadam` (the AlgoPerf/init2winit Nadam bias correction, decoupled weight
decay applied through the learning rate). Schedule: linear warmup from 0 to `learning_rate` over
`warmup_factor * H` steps, then cosine decay to 0 at H, and 0 after, where
H = `horizon_factor * step_hint` (`bench.schedules.horizon`; 1 by default, 0.75 in the external
search space, as AlgoPerf's externally tuned NadamW). Optional global-norm gradient clipping
(`grad_clip`, off when null).
"""

from bench.optim.nadam import ALGOPERF_SELF_TUNING_POINT, nadamw_from_hparams
from bench.schedules import horizon, warmup_cosine

# The AlgoPerf self-tuning NadamW point (the baseline's "full budget" hyperparameters).
DEFAULT_HPARAMS = {**ALGOPERF_SELF_TUNING_POINT, "grad_clip": None, "horizon_factor": 1.0}


def make_optimizer(hparams, workload_info):
    steps = horizon(workload_info.step_hint, hparams["horizon_factor"])
    warmup_steps = int(hparams["warmup_factor"] * steps)
    schedule = warmup_cosine(hparams["learning_rate"], steps, warmup_steps)
    return nadamw_from_hparams(schedule, hparams)
