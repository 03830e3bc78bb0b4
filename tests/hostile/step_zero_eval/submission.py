"""Hostile: evaluates at parameters fitted to the validation split, so the step-0 evaluation
meets the target before any training (once recorded as a hit at time 0)."""

import gc

import numpy as np
import optax

from bench.workload import Workload

DEFAULT_HPARAMS = {"learning_rate": 1e-6}


def make_optimizer(hparams, workload_info):
    return optax.sgd(hparams["learning_rate"])


def eval_params(params, opt_state):
    workload = next(obj for obj in gc.get_objects()
                    if isinstance(obj, Workload) and obj.name == "tiny")
    batch = next(iter(workload.eval_batches("validation")))
    w, *_ = np.linalg.lstsq(batch["inputs"], batch["targets"], rcond=None)
    return {"w": w.astype(np.float32), "b": np.float32(0.0)}
