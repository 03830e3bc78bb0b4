"""Prodigy: Adam with a learned step size d (Mishchenko & Defazio 2024), the authors' defaults.

Update rule: `bench.optim.prodigy` (the prodigyopt package's rule: no Adam bias correction,
decoupled weight decay, d0 = 1e-6). The package's `lr` is `lr_multiplier`, optionally shaped by
a schedule (`schedule`: constant, or warmup then cosine/linear decay to 0 at step_hint).
`calibrated.json` beside this file is the calibrated point (see README.md).
"""

import math

from bench.optim.multiplier_schedule import lr_free_optimizer
from bench.optim.prodigy import prodigy

# prodigyopt 1.1's defaults (Prodigy(lr=1.0) with no scheduler, as its README recommends).
DEFAULT_HPARAMS = {
    "lr_multiplier": 1.0,
    "d_coef": 1.0,
    "d0": 1e-6,
    "beta1": 0.9,
    "beta2": 0.999,
    "beta3": None,  # None: sqrt(beta2)
    "eps": 1e-8,
    "weight_decay": 0.0,
    "decouple": True,
    "use_bias_correction": False,
    "safeguard_warmup": False,
    "growth_rate": None,  # None: unbounded
    "schedule": "constant",  # constant | cosine | linear
    "warmup_factor": 0.0,
    "grad_clip": None,
    "horizon_factor": 1.0,  # the schedule spans horizon_factor * step_hint (bench.schedules.horizon)
}


def make_optimizer(hparams, workload_info):
    growth = hparams["growth_rate"]
    return lr_free_optimizer(
        prodigy,
        hparams,
        workload_info.step_hint,
        b1=hparams["beta1"],
        b2=hparams["beta2"],
        beta3=hparams["beta3"],
        eps=hparams["eps"],
        weight_decay=hparams["weight_decay"],
        decouple=hparams["decouple"],
        use_bias_correction=hparams["use_bias_correction"],
        safeguard_warmup=hparams["safeguard_warmup"],
        d0=hparams["d0"],
        d_coef=hparams["d_coef"],
        growth_rate=math.inf if growth is None else growth,
    )
