"""Hostile: patches the submission clock at import to count a tenth of the time."""

import optax

from bench.protocol import SubmissionClock

_stop = SubmissionClock.stop


def _stop_a_tenth(self, *outputs):
    before = self.elapsed
    _stop(self, *outputs)
    self.elapsed = before + 0.1 * (self.elapsed - before)
    return self.elapsed


SubmissionClock.stop = _stop_a_tenth

DEFAULT_HPARAMS = {"learning_rate": 0.1}


def make_optimizer(hparams, workload_info):
    return optax.sgd(hparams["learning_rate"])
