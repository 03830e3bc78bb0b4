"""Hostile: starts a thread at import, from which it could patch the harness between checks."""

import threading
import time

import optax

threading.Thread(target=time.sleep, args=(60,), daemon=True).start()

DEFAULT_HPARAMS = {"learning_rate": 0.1}


def make_optimizer(hparams, workload_info):
    return optax.sgd(hparams["learning_rate"])
