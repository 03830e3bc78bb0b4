"""DoG: SGD stepping by distance from x0 over root summed squared gradients (Ivgi et al. 2023).

Update rule: `optax.contrib.dog` (which follows the authors' dog-optimizer package), wrapped by
`bench.optim.dog` to log the step size; evaluation at the polynomial-decay average of the
iterates (gamma = 8), which the authors call crucial (`bench.optim.averaging`;
`averaging_gamma: null` evaluates the last iterate). The package's `lr` (c in the paper) is
`lr_multiplier`, optionally shaped by a schedule. `calibrated.json` beside this file is the
calibrated point (see README.md).
"""

from bench.optim.averaging import averaged_params, with_polynomial_averaging
from bench.optim.dog import dog
from bench.optim.multiplier_schedule import lr_free_optimizer

# dog-optimizer 1.0.3's defaults (DoG(reps_rel=1e-6, lr=1.0)) with PolynomialDecayAverager(gamma=8).
DEFAULT_HPARAMS = {
    "lr_multiplier": 1.0,
    "reps_rel": 1e-6,
    "eps": 1e-8,
    "weight_decay": 0.0,
    "averaging_gamma": 8.0,  # None: evaluate the last iterate
    "schedule": "constant",  # constant | cosine | linear
    "warmup_factor": 0.0,
    "grad_clip": None,
    "horizon_factor": 1.0,  # the schedule spans horizon_factor * step_hint (bench.schedules.horizon)
}


def make_optimizer(hparams, workload_info):
    optimizer = lr_free_optimizer(
        dog,
        hparams,
        workload_info.step_hint,
        reps_rel=hparams["reps_rel"],
        eps=hparams["eps"],
        weight_decay=hparams["weight_decay"],
    )
    if hparams["averaging_gamma"] is not None:
        optimizer = with_polynomial_averaging(optimizer, hparams["averaging_gamma"])
    return optimizer


def eval_params(params, opt_state):
    try:
        return averaged_params(opt_state)
    except TypeError:  # averaging switched off
        return params
