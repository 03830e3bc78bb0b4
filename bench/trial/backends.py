"""Where a trial runs: in this process, in a child process of its own, or on a cluster.

Every backend takes a `TrialRequest` and returns a `bench.trial.execute.RunOutcome`
(`Backend = Callable[[TrialRequest], RunOutcome]`): `inline` runs `execute` here, `isolated` in a
child process, and `bench.cluster` submits `run_in_child` as a submitit job. When a trial's process
ends without a record (crashed, killed, hung, lost on a node), `record_failure` records `error`.

A contributed submission is untrusted code. In a study each trial runs in its own process
(started with "spawn": a fresh interpreter, no state shared with the parent), and whatever
happens to it becomes that trial's record while the study goes on:

- an exception in the submission: the child records outcome `error` itself (as inline runs);
- a non-finite loss: `diverged`, likewise;
- a hang: after `time_limit` wall-clock seconds the parent stops the child (SIGTERM, then SIGKILL
  after a grace period) and records `error` with "exceeded the time limit";
- a crash or being killed: the child is started once more (it resumes from its checkpoint, so a
  trial killed from outside loses nothing); killed again, the parent records `error` with the
  exit code or signal (the out-of-memory killer's SIGKILL, a segmentation fault).

Containment: the child runs in a session (and process group) of its own, so a Ctrl-C at the
terminal reaches only the parent, which then stops the child with SIGTERM: the child saves a
checkpoint and exits. When the child ends, the parent kills whatever is left in the child's
process group (a forked grandchild does not outlive its trial). If the parent dies (SIGKILL), the
child receives SIGTERM from the kernel (`PR_SET_PDEATHSIG` on Linux; elsewhere a thread watching
the parent's pid), checkpoints and exits, so a rerun resumes it instead of racing it.

Harness failures in the child (a checkpoint or record it cannot write, the trial's lock held by
another process) come back to the parent through a pipe and are raised there, never recorded.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import registry, rules, speed, tamper
from bench.protocol import Outcome, ProtocolSettings
from bench.trial import interrupt
from bench.trial.execute import (
    RunOutcome, TrialBusyError, TrialConflictError, check_results_dir, execute, finished_outcome,
    trial_lock,
)
from bench.trial.files import HarnessError
from bench.trial.record import (
    Record, TrialId, TrialResult, read_record, set_aside, write_record,
)

GRACE_SECONDS = 10.0
RESTARTS = 1  # times a killed trial process is started again in one run
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@dataclasses.dataclass(frozen=True)
class TrialRequest:
    """One trial to run: resolved hyperparameters, where it is recorded, how it is run."""

    workload: Any  # a bench.workload.Workload
    submission: Any  # a bench.submission.Submission
    hparams: dict
    trial_id: TrialId
    seed: int = 0
    results_dir: str | Path = "results"
    settings: ProtocolSettings = ProtocolSettings()
    data_dir: str | None = None
    checkpoint_every: float = 60.0
    device_slot: int | None = None  # train on this one device (`bench.devices.pin_to_device`)
    device_slots: int = 1  # of this many trials running at once

    @property
    def path(self) -> Path:
        return self.trial_id.path(self.results_dir)

    def child_arguments(self) -> dict:
        """The trial as the `kwargs` of `run_in_child` (plain data: they cross processes)."""
        return dict(hparams=self.hparams, seed=self.seed, ruleset=self.trial_id.ruleset,
                    study=self.trial_id.study, trial=self.trial_id.trial,
                    results_dir=str(self.results_dir), settings=self.settings,
                    data_dir=self.data_dir, checkpoint_every=self.checkpoint_every)


Backend = Callable[[TrialRequest], RunOutcome]


def inline(on_progress=None) -> Backend:
    """Run trials in this process (progress shown through `on_progress`)."""

    def run(request: TrialRequest) -> RunOutcome:
        return execute(request.workload, request.submission, request.hparams, request.trial_id,
                       seed=request.seed, results_dir=request.results_dir,
                       settings=request.settings, data_dir=request.data_dir,
                       on_progress=on_progress, checkpoint_every=request.checkpoint_every)

    return run


def isolated(time_limit: float | None = None) -> Backend:
    """Run each trial in a child process of its own (see the module docstring)."""
    return lambda request: run_isolated(request, time_limit)


def default_time_limit(workload, settings: ProtocolSettings) -> float:
    """Wall-clock limit of a trial: generous against evaluation and compilation overheads."""
    resolved = settings.resolve(workload.spec)
    return 5.0 * resolved.max_runtime + 600.0


# ------------------------------------------------------------------------ the child's side


def run_in_child(workload_ref: str, submission_path: str, submission_name: str, kwargs: dict,
                 compile_cache: str | None = None, parent_pid: int | None = None,
                 device_slot: int | None = None, device_slots: int = 1) -> dict:
    """Run one trial in a process of its own (a child of `isolated`, or a cluster job).

    `kwargs` are `TrialRequest.child_arguments()`: hparams, seed, ruleset, study, trial,
    results_dir, settings, data_dir, checkpoint_every. With `parent_pid`, the process leaves the
    parent's session and stops (checkpointing) if that parent dies. SIGTERM stops the trial like
    Ctrl-C (checkpoint, then return). Returns a report: {"status": "done" | "interrupted" |
    "busy" | "harness", "message", "resumed_from_step", "notes"}.
    """
    if device_slot is not None:  # before anything starts jax's backends
        from bench.devices import pin_to_device

        pin_to_device(device_slot, device_slots)
    if parent_pid is not None:
        os.setsid()
        stop_with_parent(parent_pid)
    interrupt.stop_on_signals()
    if compile_cache:  # share the parent's compilation cache
        from bench.environment import enable_compilation_cache

        enable_compilation_cache(compile_cache)
    from bench.submission import HparamsError, load_submission, resolve_hparams

    try:
        workload = registry.get_workload(workload_ref)
        tamper.note_before_import(workload)  # compared with the harness objects after it
        record = TrialId(kwargs.get("ruleset", "single"), submission_name, workload.name,
                         kwargs.get("study", 0), kwargs.get("trial", 0)).path(kwargs["results_dir"])
        existed = record.exists()
        reference = reference_before_import(workload, kwargs)
        submission = load_submission(submission_path, name=submission_name)
        if record.exists() and not existed:  # written by the submission's import: not a result
            set_aside(record)
        kwargs = dict(kwargs)
        point = resolve_hparams(submission, kwargs.pop("hparams", None))
        trial_id = TrialId(kwargs.pop("ruleset", "single"), submission.name, workload.name,
                           kwargs.pop("study", 0), kwargs.pop("trial", 0))
        outcome = execute(workload, submission, point, trial_id, **kwargs, reference=reference)
    except KeyboardInterrupt:  # stopped: checkpoint saved, no record on purpose
        return {"status": "interrupted", "message": "interrupted; it resumes on the next run"}
    except TrialBusyError as error:
        return {"status": "busy", "message": str(error)}
    except (HarnessError, TrialConflictError, HparamsError, speed.NoReferenceError) as error:
        return {"status": "harness", "message": str(error)}
    finally:
        kill_process_group_members()
    return {"status": "done", "resumed_from_step": outcome.resumed_from_step,
            "notes": list(outcome.notes)}


def reference_before_import(workload, kwargs: dict):
    """Under rules with a clock in reference seconds, the workload's reference point compiled and
    first timed (`bench.speed.start`) before the submission is imported, so that its code can
    neither slow the first timing down nor replace how the rate is worked out (afterwards the
    trial checks the reference's class for changes, `bench.tamper`). None under a clock of
    machine seconds."""
    settings = (kwargs.get("settings") or ProtocolSettings()).for_tier(workload.spec.tier)
    if rules.load(settings.rules).timing.clock != "reference":
        return None
    workload.load(kwargs.get("data_dir"))  # idempotent; the trial's copy shares the data
    return speed.start(workload)


def stop_with_parent(parent_pid: int) -> None:
    """Receive SIGTERM when the parent dies: the kernel sends it on Linux; elsewhere a thread
    polls the parent's pid."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)
        return

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


def kill_process_group_members() -> None:
    """SIGKILL every other process of this process's group (what the submission forked).

    Only in a process that leads its own group (an isolated child); Linux (/proc) only.
    """
    group = os.getpgid(0)
    if group != os.getpid() or not os.path.isdir("/proc"):
        return
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[2]) == group:  # field 5: pgrp
                    os.kill(int(entry), signal.SIGKILL)


def _child_main(connection, *arguments) -> None:
    connection.send(run_in_child(*arguments))
    connection.close()


# ----------------------------------------------------------------------- the parent's side


def run_isolated(request: TrialRequest, time_limit: float | None = None) -> RunOutcome:
    """`execute` in a child process; a child that ends without a record is recorded `error`."""
    version = request.settings.for_tier(request.workload.spec.tier).rules
    done = finished_outcome(request.path, request.hparams, request.seed, False, version)
    if done is not None:  # the same checks as an inline run, without starting a process
        return done
    check_results_dir(request.path.parent)
    limit = time_limit or default_time_limit(request.workload, request.settings)
    for attempt in range(RESTARTS + 1):
        report, exitcode = start_child(request, limit)
        outcome = outcome_from_report(request, report)
        if outcome is not None:
            return outcome
        killed = not report and exitcode is not None and exitcode < 0
        if not killed:  # hung, or exited without a record: starting again would do the same
            break
    return record_failure_for(request, report.get("message") or describe_exit(exitcode))


def outcome_from_report(request: TrialRequest, report: dict) -> RunOutcome | None:
    """The outcome a child's report gives (raising what it says was raised), or None."""
    status = report.get("status")
    if status == "interrupted":
        raise KeyboardInterrupt(f"trial {request.path.name} was interrupted; it resumes "
                                "on the next run")
    if status == "busy":
        raise TrialBusyError(report["message"])
    if status == "harness":
        raise HarnessError(report["message"])
    if status == "done" or (status is None and request.path.exists()):
        return RunOutcome(read_record(request.path), request.path, skipped=False,
                          resumed_from_step=report.get("resumed_from_step"),
                          notes=tuple(report.get("notes", ())))
    return None


def start_child(request: TrialRequest, limit: float) -> tuple[dict, int | None]:
    """Run the trial's child process to its end; its report (or {}) and exit code."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    import jax

    arguments = (registry.workload_reference(request.workload), str(request.submission.path),
                 request.submission.name, request.child_arguments(),
                 jax.config.jax_compilation_cache_dir, os.getpid(), request.device_slot,
                 request.device_slots)
    process = context.Process(target=_child_main, args=(sender, *arguments))
    process.start()
    sender.close()
    try:
        report = receive(receiver, process, limit)
    except KeyboardInterrupt:  # Ctrl-C on the study: let the trial checkpoint, record nothing
        stop(process)
        raise
    finally:
        receiver.close()
    process.join(GRACE_SECONDS if report else None)
    if process.is_alive():
        stop(process)
    kill_group(process.pid)
    return report, process.exitcode


def receive(receiver, process, limit: float) -> dict:
    """The child's report, {} if it died without one, or a "killed" report after `limit`."""
    deadline = time.monotonic() + limit
    while True:
        if receiver.poll(min(1.0, max(0.0, deadline - time.monotonic()))):
            try:
                return receiver.recv()
            except EOFError:  # the child died without reporting
                return {}
        if not process.is_alive() and not receiver.poll(0):
            return {}
        if time.monotonic() >= deadline:
            stop(process)
            return {"status": "killed", "message": f"the trial exceeded its time limit of "
                    f"{limit:.0f}s of wall-clock time and was stopped"}


def stop(process) -> None:
    """SIGTERM (the trial checkpoints), then SIGKILL after the grace period."""
    process.terminate()
    process.join(GRACE_SECONDS)
    if process.is_alive():
        process.kill()
        process.join()


def kill_group(pgid: int) -> None:
    """Kill what is left of a finished child's process group (processes it forked)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (the out-of-memory killer sends SIGKILL)" if name == "SIGKILL" else ""
        return f"the trial process was killed by {name}{hint}"
    return f"the trial process exited with code {code} without writing a record"


def record_failure_for(request: TrialRequest, message: str) -> RunOutcome:
    return record_failure(request.workload, request.submission, request.hparams, request.seed,
                          request.trial_id, request.results_dir, request.settings, message)


def record_failure(workload, submission, point, seed, trial_id: TrialId, results_dir, settings,
                   message: str) -> RunOutcome:
    """Record outcome `error` for a trial whose process left no record (killed, hung, lost).

    Under the trial's lock (if another process finished the trial meanwhile, its record stands).
    A checkpoint is kept (set aside beside the record), not deleted.
    """
    path = trial_id.path(results_dir)
    with trial_lock(trial_id.lock_path(results_dir), wait=True):  # until its forks are gone
        if path.exists():  # the trial's own process finished writing after all
            return RunOutcome(read_record(path), path, skipped=False)
        result = TrialResult(
            outcome=Outcome.ERROR, message=message, seed=seed, hparams=point,
            batch_size=workload.spec.batch_size, settings=settings.resolve(workload.spec),
        )
        record = Record.from_result(trial_id, result, workload, submission)
        write_record(path, record)
        checkpoint = trial_id.checkpoint_path(results_dir)
        if checkpoint.exists():
            set_aside(checkpoint)
    return RunOutcome(record, path, skipped=False)
