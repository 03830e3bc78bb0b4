"""The one error wrapper of the command line.

Errors a user can fix (an unknown name, a malformed submission or hyperparameter file, a
conflicting record, an unprepared dataset, a bad record for the science commands) and failures
of the harness's own files (a results directory that cannot be written, a full disk: never the
submission's, and they keep the checkpoint) become a one-line message with exit status 2, never a
traceback. A trial another process is training is said in one line too. Ctrl-C and SIGTERM stop a running trial
after it saved a checkpoint; the same command resumes it (exit status 130).
"""

from __future__ import annotations

import functools
import signal
import sys

import click

from bench import api, predict, refine, scoring, sensitivity, speed, targets
from bench.cli.display import console
from bench.trial.files import HarnessError
from bench.trial.record import RecordError
from bench.registry import UnknownNameError
from bench.rules import RulesError
from bench.search_space import SearchSpaceError
from bench.submission import HparamsError, SubmissionError
from workloads import DatasetNotPreparedError

USER_ERRORS = (
    DatasetNotPreparedError,
    SubmissionError,
    HparamsError,
    UnknownNameError,
    RecordError,
    api.TrialConflictError,
    api.TrialBusyError,
    HarnessError,
    SearchSpaceError,
    scoring.ScoringError,
    RulesError,
    refine.RefineError,
    sensitivity.SensitivityError,
    predict.PredictError,
    targets.TargetsError,
    speed.NoReferenceError,
)


class UserError(click.ClickException):
    """A one-line error for input the user can fix; exit status 2."""

    exit_code = 2


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM stops a trial the way Ctrl-C does: checkpoint, then exit


def user_errors(command):
    """Run `command` with the API's user-facing errors shown as one line (exit status 2)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as error:
            raise UserError(str(error)) from None
        except KeyboardInterrupt as interrupt:
            detail = f" ({interrupt})" if str(interrupt) else ""
            console.print(f"[yellow]interrupted{detail}.[/] Finished trials are recorded; "
                          "run the same command again to resume.")
            sys.exit(130)
        finally:
            signal.signal(signal.SIGTERM, previous)

    return wrapper
