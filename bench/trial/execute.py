"""Running one trial and recording it, without ever losing work.

`execute` checks everything it can before anything trains, then trains and records:

1. the record: a finished trial is skipped; one with other hyperparameters or seed is refused
   (`TrialConflictError`) unless `force`, which sets the old record aside (nothing is deleted);
2. the results directory: it must be writable (`ResultsNotWritableError`), so a read-only
   directory is found before the trial trains, not after;
3. the lock: one `flock` on `trial_<n>.lock` beside the record, held while the trial trains, so two
   processes (two studies on one directory, a rerun while an orphaned trial still runs) never
   train the same trial at once. The second one waits (`wait=True`) or gets `TrialBusyError`;
4. the checkpoint: an interrupted run of the same trial is resumed ("resuming from step N",
   `RunOutcome.resumed_from_step`); a checkpoint that is damaged or was saved under other
   hyperparameters or protocol settings (another `--max-runtime`) is set aside beside it
   (`trial_<n>.ckpt.replaced-<time>`), said in `RunOutcome.notes`, and the trial starts again;
5. train (`bench.trial.loop.run_trial`), write the record, then remove the checkpoint. Under the
   lock the record's slot was free when the trial started, so a file found there when its record
   is written was put there during the trial by something other than the trial: the submission's
   own code (a forged result) or a process that ignored the lock. It is never taken as the
   trial's result: it is set aside (`trial_<n>.json.replaced-<time>`, said in the notes) and the
   trial's own record is written in its place (`write_own_record`).

Failures of the harness (`HarnessError`: a checkpoint or record that cannot be written) are
raised, never recorded as the submission's failure, and never remove a checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.protocol import ProtocolSettings
from bench.rules import with_rules
from bench.trial import checkpoint as ckpt
from bench.trial.files import HarnessError, check_writable
from bench.trial.loop import CheckpointPlan, Progress, run_trial
from bench.trial.record import Record, TrialId, read_record, set_aside, write_record


UNLOCKABLE = (errno.ENOLCK, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP)  # no flock here


class TrialConflictError(ValueError):
    """A finished record exists for this trial, but with other hyperparameters, seed or rules."""


class TrialBusyError(RuntimeError):
    """Another process holds the trial's lock: it is training this trial right now."""


class ResultsNotWritableError(HarnessError):
    """The results directory cannot be written: found before the trial trains."""


@dataclasses.dataclass(frozen=True)
class RunOutcome:
    record: Record
    path: Path
    skipped: bool  # True when the trial had already been run and was not run again
    resumed_from_step: int | None = None  # the checkpoint's step, when this run resumed one
    notes: tuple[str, ...] = ()  # what was done on the way (a checkpoint set aside, ...)


@contextlib.contextmanager
def trial_lock(path: Path, wait: bool):
    """Hold the exclusive lock at `path` (created if needed) for the duration of the block.

    The kernel releases an `flock` when its process dies, so a killed trial never leaves a stale
    lock. The lock file itself stays (removing it would race with a waiting process). On a file
    system without locks (Lustre mounted `noflock`), the block runs unlocked.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise TrialBusyError(f"another process is training this trial right now (lock "
                                 f"{path}); it is skipped here") from None
        except OSError as error:
            if error.errno not in UNLOCKABLE:
                raise
        yield
    finally:
        os.close(fd)


def finished_outcome(path: Path, point: dict, seed: int, force: bool,
                     rules: str) -> RunOutcome | None:
    """The outcome of the trial's existing record (skipped), or None when it must run. A record
    of other hyperparameters, seed or rules version is a conflict: the layout holds one record
    per trial, and passing off a record of other rules as this run's would mix versions."""
    if force or not path.exists():
        return None
    existing = read_record(path)
    if existing.hparams != point or existing.seed != seed:
        raise TrialConflictError(
            f"{path} already holds this trial with other hyperparameters or seed; "
            "choose another --study/--trial or --results-dir, or pass --force")
    if existing.rules != rules:
        raise TrialConflictError(
            f"{path} already holds this trial, run under rules {existing.rules}, not {rules}; "
            f"choose another --results-dir, pass --rules {existing.rules} to keep it, or "
            "--force to run it again (the old record is kept aside)")
    return RunOutcome(existing, path, skipped=True)


def check_results_dir(directory: Path) -> None:
    try:
        check_writable(directory)
    except OSError as error:
        raise ResultsNotWritableError(
            f"cannot write trial records in {directory}: {error.strerror or error}") from None


def check_checkpoint(path: Path, point: dict, seed: int, settings: dict) -> list[str]:
    """Keep a checkpoint this trial can resume; set aside (never delete) one that cannot be read
    or belongs to other hyperparameters, seed or protocol settings. Notes on what was done."""
    if not path.exists():
        return []
    try:
        problem = ckpt.mismatch(ckpt.read_meta(path), point, seed, settings)
    except ckpt.CheckpointError as error:
        problem = str(error).replace(f"checkpoint {path} ", "")
    return [] if problem is None else [set_aside_checkpoint(path, problem)]


def set_aside_checkpoint(path: Path, problem: str) -> str:
    kept = set_aside(path)
    return f"checkpoint {path.name} not resumed ({problem}); kept as {kept.name}, starting afresh"


def write_own_record(path: Path, record: Record) -> list[str]:
    """Write the trial's `record` at `path`, where no record was when the trial started (under
    its lock); a file that appeared there meanwhile is set aside, never taken as the result.

    Notes on what was set aside. A second file appearing while the first is set aside (something
    keeps writing there) is set aside too and raises `HarnessError`: the checkpoint is kept and a
    rerun resumes.
    """
    notes = []
    for _ in range(2):
        try:
            write_record(path, record)
            return notes
        except FileExistsError:
            kept = set_aside(path)
            notes.append(f"a record appeared at {path.name} during the trial, not written by it "
                         f"(by the submission's code or a process without the trial's lock): "
                         f"not taken as its result, kept as {kept.name}")
        except OSError as error:
            raise HarnessError(f"cannot write the record {path}: {error}; the checkpoint "
                               "is kept, run the same command again to finish") from error
    raise HarnessError(f"records keep appearing at {path} while the trial writes its own; "
                       f"{'; '.join(notes)}. The checkpoint is kept, run the same command again")


def execute(
    workload,
    submission,
    point: dict[str, Any],
    trial_id: TrialId,
    *,
    seed: int = 0,
    results_dir: str | Path = "results",
    settings: ProtocolSettings = ProtocolSettings(),
    data_dir: str | None = None,
    force: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    checkpoint_every: float = 60.0,
    wait: bool = False,
    reference=None,
) -> RunOutcome:
    """Run one trial (resolved hyperparameters `point`) and record it; see the module docstring.
    `reference`: see `bench.trial.loop.run_trial`."""
    path = trial_id.path(results_dir)
    settings = settings.for_tier(workload.spec.tier)
    done = finished_outcome(path, point, seed, force, settings.rules)
    if done is not None:
        return done
    check_results_dir(path.parent)
    with trial_lock(trial_id.lock_path(results_dir), wait):
        done = finished_outcome(path, point, seed, force, settings.rules)  # finished meanwhile?
        if done is not None:
            return done
        notes = []
        if force and path.exists():
            notes.append(f"record set aside as {set_aside(path).name}")
        plan = CheckpointPlan(trial_id.checkpoint_path(results_dir), checkpoint_every)
        if force and plan.path.exists():
            notes.append(set_aside_checkpoint(plan.path, "--force"))
        workload = with_rules(workload, settings.rules)  # its step hint, budget and targets
        resolved = dataclasses.asdict(settings.resolve(workload.spec))
        notes += check_checkpoint(plan.path, point, seed, resolved)
        workload.load(data_dir)
        train = dict(seed=seed, settings=settings, on_progress=on_progress, checkpoint=plan,
                     reference=reference)
        try:
            result = run_trial(workload, submission, point, **train)
        except ckpt.CheckpointError as error:  # its state does not fit: set it aside, start again
            notes.append(set_aside_checkpoint(plan.path, str(error)))
            result = run_trial(workload, submission, point, **train)
        record = Record.from_result(trial_id, result, workload, submission)
        notes += write_own_record(path, record)
        ckpt.remove(plan.path)
    return RunOutcome(record, path, skipped=False, resumed_from_step=result.resumed_from_step,
                      notes=tuple(notes))
