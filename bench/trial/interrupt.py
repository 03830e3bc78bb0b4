"""Stopping a trial's process from a signal, without losing the stop.

A trial in a process of its own stops on SIGTERM or SIGINT (its parent stopping it, or dying):
the handler raises KeyboardInterrupt, the training loop saves a checkpoint and the process
returns. Python runs a signal handler between two bytecodes of the main thread, wherever that
thread is; when it is inside a garbage-collection callback or a finaliser (jax registers a
collection callback), an exception raised there is printed as "Exception ignored" and dropped,
and the trial would train on as if it had never been stopped. So the handler also records the
request, and the training loop raises it again before its next chunk of steps
(`raise_if_stop_requested`).

Only the first signal raises: later ones are ignored, so that a second signal cannot break the
checkpoint the first one is saving.
"""

from __future__ import annotations

import signal

_stop = {"requested": False}  # process-wide, like the signal handlers themselves


def stop_on_signals() -> None:
    """Install the handlers for SIGTERM and SIGINT; forget any earlier request."""
    _stop["requested"] = False
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def request_stop(signum=None, frame=None) -> None:
    """The handler: record the request, and raise KeyboardInterrupt the first time."""
    if not _stop["requested"]:
        _stop["requested"] = True
        raise KeyboardInterrupt


def stop_requested() -> bool:
    return _stop["requested"]


def raise_if_stop_requested() -> None:
    """Raise KeyboardInterrupt when a signal asked this process to stop (its own exception may
    have been swallowed where the handler ran)."""
    if _stop["requested"]:
        raise KeyboardInterrupt("stop requested by a signal")


def forget_stop_request() -> None:
    """For a process that goes on after handling a stop (tests)."""
    _stop["requested"] = False
