"""COCOB-Backprop: per-coordinate coin betting, no learning rate (Orabona & Tommasi 2017).

Update rule: `optax.contrib.cocob`, which follows the authors' implementations (the COCOB
TensorFlow optimizer and the parameterfree package: L starts at eps = 1e-8, weight decay added
to the gradient). COCOB has no learning rate, so none is logged. `calibrated.json` beside this
file is the calibrated point (see README.md).
"""

import optax

from bench.optim.grad_clip import with_grad_clip

# The authors' defaults: alpha = 100, eps = 1e-8, no weight decay.
DEFAULT_HPARAMS = {
    "alpha": 100.0,
    "eps": 1e-8,
    "weight_decay": 0.0,
    "grad_clip": None,
}


def make_optimizer(hparams, workload_info):
    optimizer = optax.contrib.cocob(
        learning_rate=1.0,  # optax's factor on the gradients; the authors' rule has none
        alpha=hparams["alpha"],
        eps=hparams["eps"],
        weight_decay=hparams["weight_decay"],
    )
    return with_grad_clip(optimizer, hparams["grad_clip"])
