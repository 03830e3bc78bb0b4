"""NadamW with the Power scheduler: lr = min(peak, batch * a * n^b) after warmup, then a decay.

Update rule: `bench.optim.nadam` (the AlgoPerf NadamW). Schedule: `bench.schedules.power` (Shen
et al. 2024, arXiv 2408.13359), n = examples seen. The paper's amplitude a is fitted for muP
language models with n in tokens; here a is set so that the power law meets the peak
`learning_rate` after `power_crossover_factor * step_hint` steps (`bench.schedules.
power_amplitude`), after which lr = learning_rate * (t / t_cross)^b. The last `decay_fraction`
of the `step_hint` steps decays to 0 with shape `decay_shape`.
"""

from bench.optim.nadam import ALGOPERF_SELF_TUNING_POINT, nadamw_from_hparams
from bench.schedules import power, power_amplitude

DEFAULT_HPARAMS = {
    **ALGOPERF_SELF_TUNING_POINT,  # NadamW's (bench.optim.nadam), warmup included
    "grad_clip": None,
    # Power scheduler: b from the paper; crossover, decay length and shape are our choices.
    "power_exponent": -0.51,
    "power_crossover_factor": 0.1,
    "decay_fraction": 0.1,
    "decay_shape": "exponential",
}


def make_schedule(hparams, workload_info):
    step_hint, batch_size = workload_info.step_hint, workload_info.batch_size
    crossover_steps = max(1.0, hparams["power_crossover_factor"] * step_hint)
    amplitude = power_amplitude(
        peak=hparams["learning_rate"],
        exponent=hparams["power_exponent"],
        batch_size=batch_size,
        crossover_samples=crossover_steps * batch_size,
    )
    return power(
        peak=hparams["learning_rate"],
        amplitude=amplitude,
        exponent=hparams["power_exponent"],
        batch_size=batch_size,
        total_steps=step_hint,
        warmup_steps=int(hparams["warmup_factor"] * step_hint),
        decay_fraction=hparams["decay_fraction"],
        shape=hparams["decay_shape"],
    )


def make_optimizer(hparams, workload_info):
    return nadamw_from_hparams(make_schedule(hparams, workload_info), hparams)
