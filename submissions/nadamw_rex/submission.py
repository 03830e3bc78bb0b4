"""NadamW with the REX schedule: warmup, then (1 - p) / (1 - p/2) decay to 0 at the step hint.

Update rule: `bench.optim.nadam` (the AlgoPerf NadamW). Schedule: `bench.schedules.rex` (Chen,
Wolfe & Kyrillidis, MLSys 2022, arXiv 2107.04197): linear warmup over `warmup_factor *
step_hint` steps, then the REX profile from `learning_rate` to 0 at `step_hint`, 0 after.
"""

from bench.optim.nadam import ALGOPERF_SELF_TUNING_POINT, nadamw_from_hparams
from bench.schedules import rex

DEFAULT_HPARAMS = {
    **ALGOPERF_SELF_TUNING_POINT,  # NadamW's (bench.optim.nadam), warmup included
    "grad_clip": None,
}


def make_schedule(hparams, workload_info):
    return rex(
        peak=hparams["learning_rate"],
        total_steps=workload_info.step_hint,
        warmup_steps=int(hparams["warmup_factor"] * workload_info.step_hint),
    )


def make_optimizer(hparams, workload_info):
    return nadamw_from_hparams(make_schedule(hparams, workload_info), hparams)
