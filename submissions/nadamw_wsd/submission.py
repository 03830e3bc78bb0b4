"""NadamW with warmup-stable-decay (WSD): constant learning rate, then a short 1-sqrt cooldown.

Update rule: `bench.optim.nadam` (the AlgoPerf NadamW). Schedule: `bench.schedules.wsd`, linear
warmup over `warmup_factor * step_hint` steps, constant `learning_rate`, then a cooldown of shape
`cooldown_shape` over the last `cooldown_fraction` of a run of `budget_factor * step_hint` steps.
Runs with different `budget_factor` share the warmup and the constant phase: each is a branch of
the same constant run (`bench.schedules.wsd_branch_start` gives where it leaves it).
"""

from bench.optim.nadam import ALGOPERF_SELF_TUNING_POINT, nadamw_from_hparams
from bench.schedules import wsd

DEFAULT_HPARAMS = {
    **ALGOPERF_SELF_TUNING_POINT,  # NadamW's (bench.optim.nadam), warmup included
    "grad_clip": None,
    # WSD: Hägele et al. 2024 (arXiv 2405.18392): a 20% cooldown with the 1-sqrt shape.
    "cooldown_fraction": 0.2,
    "cooldown_shape": "1-sqrt",
    # The run's length in units of step_hint (its branch of the constant run).
    "budget_factor": 1.0,
}


def make_schedule(hparams, workload_info):
    total_steps = max(1, round(hparams["budget_factor"] * workload_info.step_hint))
    return wsd(
        peak=hparams["learning_rate"],
        total_steps=total_steps,
        warmup_steps=int(hparams["warmup_factor"] * workload_info.step_hint),
        cooldown_fraction=hparams["cooldown_fraction"],
        shape=hparams["cooldown_shape"],
    )


def make_optimizer(hparams, workload_info):
    return nadamw_from_hparams(make_schedule(hparams, workload_info), hparams)
