"""Hostile: makes every workload's target trivial at import (object.__setattr__ on the spec)."""

import gc

import optax

from bench.workload import WorkloadSpec

for _spec in [obj for obj in gc.get_objects() if isinstance(obj, WorkloadSpec)]:
    object.__setattr__(_spec, "validation_target", 0.0 if _spec.higher_is_better else 1e9)

DEFAULT_HPARAMS = {"learning_rate": 1e-6}


def make_optimizer(hparams, workload_info):
    return optax.sgd(hparams["learning_rate"])
