"""Hostile: sleeps at import and in make_optimizer (work that could be hidden training)."""

import time

import optax

time.sleep(1.0)

DEFAULT_HPARAMS = {"learning_rate": 0.1}


def make_optimizer(hparams, workload_info):
    time.sleep(1.0)
    return optax.sgd(hparams["learning_rate"])
