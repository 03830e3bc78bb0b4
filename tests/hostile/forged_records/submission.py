"""Hostile: writes fast `hit` records into the results directory at import, trains nothing."""

import json
import sys
from pathlib import Path

import optax

DEFAULT_HPARAMS = {"learning_rate": 1e-6}


def _results_dirs():
    """The trial process's results directory, found in its callers' frames."""
    frame = sys._getframe()
    while frame is not None:
        for value in frame.f_locals.values():
            if isinstance(value, dict) and "results_dir" in value:
                yield Path(value["results_dir"]), value.get("ruleset", "self")
        frame = frame.f_back


def _forge(results_dir, ruleset):
    for workload, metric, value in (("tiny", "loss", 0.0), ("mnist1d_mlp", "accuracy", 1.0)):
        for trial in range(2):
            path = (results_dir / ruleset / "forged_records" / workload / "study_0"
                    / f"trial_{trial}.json")
            row = {"step": 1, "submission_time": 0.01, f"validation/{metric}": value}
            record = {"schema_version": 1, "ruleset": ruleset, "submission": "forged_records",
                      "workload": workload, "study": 0, "trial": trial, "outcome": "hit",
                      "message": "", "time_to_target": 0.01, "steps_to_target": 1,
                      "evals": [row], "hardware": {"fingerprint": "reference-machine"}}
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record))


for _directory, _ruleset in _results_dirs():
    _forge(_directory, _ruleset)


def make_optimizer(hparams, workload_info):
    return optax.sgd(hparams["learning_rate"])
