"""D-Adapt AdamW: Adam stepping by a lower bound on ||x0 - x*|| (Defazio & Mishchenko 2023).

Update rule: `bench.optim.dadapt_adamw` (the dadaptation package's DAdaptAdam rule: no Adam
bias correction, d0 = 1e-6; weight decay decoupled as in AdamW). The package's `lr` is
`lr_multiplier`, optionally shaped by a schedule (`schedule`: constant, or warmup then
cosine/linear decay to 0 at step_hint). `calibrated.json` beside this file is the calibrated
point (see README.md).
"""

import math

from bench.optim.dadapt_adamw import dadapt_adamw
from bench.optim.multiplier_schedule import lr_free_optimizer

# dadaptation 3.2's DAdaptAdam defaults, with decouple=True (the AdamW form; identical at
# the default weight decay of 0), and no scheduler.
DEFAULT_HPARAMS = {
    "lr_multiplier": 1.0,
    "d0": 1e-6,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-8,
    "weight_decay": 0.0,
    "decouple": True,
    "use_bias_correction": False,
    "growth_rate": None,  # None: unbounded
    "schedule": "constant",  # constant | cosine | linear
    "warmup_factor": 0.0,
    "grad_clip": None,
    "horizon_factor": 1.0,  # the schedule spans horizon_factor * step_hint (bench.schedules.horizon)
}


def make_optimizer(hparams, workload_info):
    growth = hparams["growth_rate"]
    return lr_free_optimizer(
        dadapt_adamw,
        hparams,
        workload_info.step_hint,
        b1=hparams["beta1"],
        b2=hparams["beta2"],
        eps=hparams["eps"],
        weight_decay=hparams["weight_decay"],
        decouple=hparams["decouple"],
        use_bias_correction=hparams["use_bias_correction"],
        d0=hparams["d0"],
        growth_rate=math.inf if growth is None else growth,
    )
