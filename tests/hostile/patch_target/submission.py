"""Hostile: patches the workload's target test at import so that every evaluation hits."""

import optax

from bench.workload import Workload

Workload.target_reached = lambda self, metrics: True

DEFAULT_HPARAMS = {"learning_rate": 1e-6}


def make_optimizer(hparams, workload_info):
    return optax.sgd(hparams["learning_rate"])
