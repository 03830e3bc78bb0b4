"""Moved: the training loop lives in `bench.trial.loop` (and `TrialResult` in `bench.trial.record`).

These names are kept here for code written against the old layout.
"""

from bench.trial.loop import (  # noqa: F401
    CheckpointPlan,
    Progress,
    TrainingHandle,
    TrialInterrupted,
    applied_learning_rate,
    injected_hyperparams,
    make_train_step,
    run_trial,
)
from bench.trial.record import TrialResult  # noqa: F401
