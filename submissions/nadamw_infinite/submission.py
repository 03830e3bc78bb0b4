"""NadamW with the infinite schedule: warmup, cosine cooldown to a constant, exponential anneal.

Update rule: `bench.optim.nadam` (the AlgoPerf NadamW). Schedule: `bench.schedules.infinite`
(Ibrahim et al. 2024, arXiv 2403.08763; Singh et al. 2025, arXiv 2503.02844): linear warmup
over `warmup_factor * step_hint` steps, cosine cooldown from `learning_rate` to
`constant_ratio * learning_rate` over `cooldown_factor * step_hint` steps, constant, then an
exponential anneal to `min_ratio * learning_rate` over the last `anneal_fraction` of the
`step_hint` steps.
"""

from bench.optim.nadam import ALGOPERF_SELF_TUNING_POINT, nadamw_from_hparams
from bench.schedules import infinite

DEFAULT_HPARAMS = {
    **ALGOPERF_SELF_TUNING_POINT,  # NadamW's (bench.optim.nadam), warmup included
    "grad_clip": None,
    # Infinite schedule (our choices, see README.md): anneal to lr_max / 10, the constant
    # midway between lr_max and that; cooldown to 20%, anneal over the last 10% of step_hint.
    "constant_ratio": 0.55,
    "min_ratio": 0.1,
    "cooldown_factor": 0.2,
    "anneal_fraction": 0.1,
}


def make_schedule(hparams, workload_info):
    step_hint, peak = workload_info.step_hint, hparams["learning_rate"]
    return infinite(
        peak=peak,
        constant_value=hparams["constant_ratio"] * peak,
        end_value=hparams["min_ratio"] * peak,
        total_steps=step_hint,
        warmup_steps=int(hparams["warmup_factor"] * step_hint),
        cooldown_steps=int(hparams["cooldown_factor"] * step_hint),
        anneal_steps=round(hparams["anneal_fraction"] * step_hint),
    )


def make_optimizer(hparams, workload_info):
    return nadamw_from_hparams(make_schedule(hparams, workload_info), hparams)
