"""NadamW with a refined schedule: the learning rate shaped by a previous run's gradient norms.

Update rule: `bench.optim.nadam` (the AlgoPerf NadamW). Schedule: `learning_rate` times the
multipliers of a refined-schedule file written by `bench refine` (Defazio et al. 2023, "When, Why
and How Much? Adaptive Learning Rate Scheduling by Refinement", arXiv 2310.07831), stretched
over `step_hint` updates (`bench.refine.schedule_function`). The file's path is the hparam
`schedule_file`; when it is null the schedule is the paper's answer for constant gradient
norms, linear decay to 0 at `step_hint` (after a linear warmup over `warmup_factor *
step_hint` steps, as the baseline).
"""

from bench.optim.nadam import ALGOPERF_SELF_TUNING_POINT, nadamw_from_hparams
from bench.refine import load_schedule, schedule_function
from bench.schedules import warmup_linear

DEFAULT_HPARAMS = {
    # NadamW's (bench.optim.nadam); its warmup_factor is used by the linear-decay fallback only.
    **ALGOPERF_SELF_TUNING_POINT,
    "grad_clip": None,
    # Path to a `bench refine` output; null: linear decay (the refinement of constant norms).
    "schedule_file": None,
}


def make_schedule(hparams, workload_info):
    total_steps = workload_info.step_hint
    if hparams["schedule_file"] is None:
        return warmup_linear(
            peak=hparams["learning_rate"],
            total_steps=total_steps,
            warmup_steps=int(hparams["warmup_factor"] * total_steps),
        )
    refined = load_schedule(hparams["schedule_file"])
    return schedule_function(refined, hparams["learning_rate"], total_steps)


def make_optimizer(hparams, workload_info):
    return nadamw_from_hparams(make_schedule(hparams, workload_info), hparams)
