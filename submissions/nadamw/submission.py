"""NadamW with linear warmup and cosine decay: the AlgoPerf baseline recipe.

Update rule: `bench.optim.nadam` (the AlgoPerf/init2winit Nadam bias correction, decoupled weight
decay applied through the learning rate). Schedule: linear warmup from 0 to `learning_rate` over
`warmup_factor * step_hint` steps, then cosine decay to 0 at `step_hint`, and 0 after.
Optional global-norm gradient clipping (`grad_clip`, off when null).
"""

from bench.optim.nadam import ALGOPERF_SELF_TUNING_POINT, nadamw_from_hparams
from bench.schedules import warmup_cosine

# The AlgoPerf self-tuning NadamW point (the baseline's "full budget" hyperparameters).
DEFAULT_HPARAMS = {**ALGOPERF_SELF_TUNING_POINT, "grad_clip": None}


def make_optimizer(hparams, workload_info):
    warmup_steps = int(hparams["warmup_factor"] * workload_info.step_hint)
    schedule = warmup_cosine(hparams["learning_rate"], workload_info.step_hint, warmup_steps)
    return nadamw_from_hparams(schedule, hparams)
