"""The Python API behind the command line: tests and notebooks call these directly."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench import registry
from bench.protocol import ProtocolSettings
from bench.submission import Submission, resolve_hparams
from bench.trial.execute import RunOutcome, TrialBusyError, TrialConflictError, execute
from bench.trial.loop import Progress
from bench.trial.record import TrialId
from bench.workload import Workload

DEFAULT_RESULTS_DIR = "results"

__all__ = ["DEFAULT_RESULTS_DIR", "RunOutcome", "TrialBusyError", "TrialConflictError", "run"]


def run(
    workload: str | Workload,
    submission: str | Submission,
    *,
    hparams: Mapping[str, Any] | None = None,
    seed: int = 0,
    ruleset: str = "single",
    study: int = 0,
    trial: int = 0,
    results_dir: str | Path = DEFAULT_RESULTS_DIR,
    settings: ProtocolSettings = ProtocolSettings(),
    data_dir: str | None = None,
    force: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    checkpoint_every: float = 60.0,
    wait: bool = False,
) -> RunOutcome:
    """Run one trial and record it, or return the existing record if it already ran.

    `hparams` overrides the submission's default point; a name it does not have or a value of
    the wrong kind is an `HparamsError` before anything trains. A re-run of a finished trial is a
    no-op; one with other hyperparameters or another seed is refused (use another study/trial
    number, another results directory, or `force=True`, which sets the old record aside).

    An unfinished trial (interrupted by Ctrl-C, SIGTERM or a crash) left a checkpoint beside its
    record's path, saved every `checkpoint_every` seconds; running it again resumes from there
    with the submission time restored (`RunOutcome.resumed_from_step`). While it trains, the
    trial is locked: another process running it gets `TrialBusyError` (or waits, with `wait`).
    See `bench.trial.execute` for what is checked before training and what is never lost.
    """
    if isinstance(workload, str):
        workload = registry.get_workload(workload)
    if isinstance(submission, str):
        submission = registry.get_submission(submission)
    point = resolve_hparams(submission, hparams)
    trial_id = TrialId(ruleset, submission.name, workload.name, study, trial)
    return execute(workload, submission, point, trial_id, seed=seed, results_dir=results_dir,
                   settings=settings, data_dir=data_dir, force=force, on_progress=on_progress,
                   checkpoint_every=checkpoint_every, wait=wait)


def run_in_own_process(
    workload: Workload,
    submission: Submission,
    *,
    hparams: Mapping[str, Any] | None = None,
    seed: int = 0,
    ruleset: str = "single",
    study: int = 0,
    trial: int = 0,
    results_dir: str | Path = DEFAULT_RESULTS_DIR,
    settings: ProtocolSettings = ProtocolSettings(),
    data_dir: str | None = None,
    force: bool = False,
    checkpoint_every: float = 60.0,
    time_limit: float | None = None,
) -> RunOutcome:
    """`run` in a child process of its own (`bench.trial.backends.run_isolated`): the way to
    run a contributed submission, which the calling process never imports (pass the stand-in
    `bench.describe.describe` returns). `force` sets an existing record aside first."""
    from bench.trial.backends import TrialRequest, run_isolated
    from bench.trial.record import set_aside

    request = TrialRequest(workload, submission, resolve_hparams(submission, hparams),
                           TrialId(ruleset, submission.name, workload.name, study, trial),
                           seed=seed, results_dir=results_dir, settings=settings,
                           data_dir=data_dir, checkpoint_every=checkpoint_every)
    if force and request.path.exists():
        set_aside(request.path)
    return run_isolated(request, time_limit)
