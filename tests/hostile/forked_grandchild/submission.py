"""Hostile: forks a process at import that outlives its trial and keeps writing files."""

import os
import time

import optax

_marker = os.environ.get("HOSTILE_MARKER")
if _marker and os.fork() == 0:
    with open(_marker + ".pid", "w") as handle:
        handle.write(str(os.getpid()))
    for _ in range(300):
        time.sleep(0.1)
        with open(_marker, "a") as handle:
            handle.write(".")
    os._exit(0)

DEFAULT_HPARAMS = {"learning_rate": 0.1}


def make_optimizer(hparams, workload_info):
    return optax.sgd(hparams["learning_rate"])
