"""A submission's metadata, read without importing contributed code into this process.

Contributed code is untrusted: the processes that schedule, record or score trials never import
it (a submission imported there could patch the harness, write records or exit the process).
`describe` reads a contributed submission through a child process, `python -m bench.describe
PATH [NAME]`, which imports it, checks the contract (`bench.submission.load_submission`) and
prints one line: a marker and the metadata as JSON (name, summary, default point, the optional
hooks it defines, source hash). The parent gets back a `Submission` whose functions are
`NotLoaded` stand-ins: enough to plan a study, resolve and check hyperparameters, and hand the
path to trial processes, which import it for real. Shipped submissions (under submissions/) are
trusted and imported directly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import registry
from bench.submission import Submission, SubmissionError, check_default_hparams

MARKER = "bench-describe:"
DESCRIBE_TIME_LIMIT = 120.0  # seconds for the child to import the submission
HOOKS = ("eval_params", "batch_size", "make_controller", "make_trainer")


class NotLoaded:
    """Stands for a function of a described submission: it was never imported here."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"`{self.name}` of a contributed submission is not loaded in this "
                           "process; contributed code runs only in trial processes")

    def __repr__(self) -> str:
        return f"NotLoaded({self.name!r})"


def is_described(submission: Submission) -> bool:
    """Whether `submission` came from `describe_submission` (its code is not loaded here)."""
    return isinstance(submission.make_optimizer, NotLoaded)


def describe(reference: str, time_limit: float = DESCRIBE_TIME_LIMIT) -> Submission:
    """A submission by name or path for a trusted process: a shipped one is imported, a
    contributed one (a path) is described from a child process."""
    path, name, shipped = registry.submission_location(reference)
    if shipped:
        return registry.get_submission(reference)
    return describe_submission(path, name, time_limit)


def describe_submission(path: str | Path, name: str | None = None,
                        time_limit: float = DESCRIBE_TIME_LIMIT) -> Submission:
    """The metadata of the submission at `path`, from a child process that imports it.

    Raises `SubmissionError` (one line) when the child fails, hangs past `time_limit`, exits
    without describing the submission (`os._exit` at import), or reports a broken contract.
    """
    path = Path(path).resolve()
    if path.is_dir():
        path = path / "submission.py"
    if not path.is_file():
        raise SubmissionError(f"no submission file at {path}")
    name = name or (path.parent.name if path.name == "submission.py" else path.stem)
    returncode, stdout, stderr = _run_contained(
        [sys.executable, "-m", "bench.describe", str(path), name], time_limit)
    if returncode is None:
        raise SubmissionError(f"{path}: importing the submission took more than "
                              f"{time_limit:.0f}s")
    answer = _last_answer(stdout)
    if answer is None:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        raise SubmissionError(f"{path}: the process importing the submission exited with code "
                              f"{returncode} before describing it (does it exit or crash "
                              f"at import?): {tail}")
    if not answer.get("ok"):
        raise SubmissionError(str(answer.get("error", "the submission could not be described")))
    return _submission_from(answer, path, name)


def _run_contained(command: list[str], time_limit: float) -> tuple[int | None, str, str]:
    """Run `command` in a session of its own, its output in files (a process it forks cannot
    hold a pipe open), and kill the whole session when it ends or after `time_limit` seconds.
    Returns (exit status or None after the time limit, stdout, stderr)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 text=True, start_new_session=True)
        try:
            returncode = child.wait(timeout=time_limit)
        except subprocess.TimeoutExpired:
            returncode = None
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        child.wait()
        out.seek(0)
        err.seek(0)
        return returncode, out.read(), err.read()


def _last_answer(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            try:
                answer = json.loads(line[len(MARKER):])
            except json.JSONDecodeError:
                return None
            return answer if isinstance(answer, dict) else None
    return None


def _submission_from(answer: dict, path: Path, name: str) -> Submission:
    """Check the child's answer (it is untrusted text) and build the stand-in submission."""
    defaults = check_default_hparams(answer.get("default_hparams"), path)
    hooks = set(answer.get("hooks") or ()) & set(HOOKS)
    return Submission(
        name=name,
        path=path,
        make_optimizer=NotLoaded("make_optimizer"),
        default_hparams=dict(defaults),
        eval_params=NotLoaded("eval_params") if "eval_params" in hooks else None,
        batch_size=NotLoaded("batch_size") if "batch_size" in hooks else None,
        summary=str(answer.get("summary", ""))[:300],
        source_sha256=str(answer.get("source_sha256", "")),
        make_controller=NotLoaded("make_controller") if "make_controller" in hooks else None,
        make_trainer=NotLoaded("make_trainer") if "make_trainer" in hooks else None,
        open_hparams=answer.get("open_hparams") is True,  # AlgoPerf's API: any names
    )


def _describe_here(path: str, name: str) -> dict:
    from bench.submission import load_submission

    try:
        submission = load_submission(path, name=name or None)
    except SubmissionError as error:
        return {"ok": False, "error": str(error)}
    return {
        "ok": True,
        "summary": submission.summary,
        "default_hparams": dict(submission.default_hparams),
        "hooks": [hook for hook in HOOKS if getattr(submission, hook) is not None],
        "source_sha256": submission.source_sha256,
        "open_hparams": submission.open_hparams,
    }


if __name__ == "__main__":
    answer = _describe_here(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
    sys.stdout.write("\n" + MARKER + json.dumps(answer) + "\n")
    sys.stdout.flush()
    os._exit(0)  # the submission's exit handlers do not run after its description
