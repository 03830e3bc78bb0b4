"""`bench check`: validate a contributed submission before it is run at scale.

Each check is a small function returning a `CheckResult`; the report lists them all. The
submission is never imported into this process (`bench.describe`). The checks, in order (a
failing one stops those that depend on it):

1. import: a child process imports the module within a time limit (untrusted code must not
   hang, crash or exit the checker) and it defines the API with the right signatures;
2. default point: DEFAULT_HPARAMS holds only JSON scalars;
3. search space: search_space.json (if any; required for external tuning) is valid, names only
   the submission's hyperparameters, and its draws resolve to complete points;
4. training: a few steps of a cpu-tier workload at the default point, in an isolated process,
   end without an error or a divergence;
5. harness untouched: the trial found the clock, the target test, the workload's spec and the
   step function as the harness defined them (`bench.tamper`), and the submission started no
   threads;
6. records: the trial's results directory holds only the record the harness wrote;
7. setup time: importing the submission, `make_optimizer` and `optimizer.init` took about as long
   as a plain optimizer's (work done there could be hidden training).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path

from bench import registry, rules
from bench.describe import describe_submission
from bench.protocol import ProtocolSettings
from bench.search_space import SearchSpaceError, load_search_space
from bench.submission import HparamsError, Submission, SubmissionError, resolve_hparams

IMPORT_TIME_LIMIT = 120.0
DEFAULT_CHECK_WORKLOAD = "mnist1d_mlp"
SLOW_IMPORT_SECONDS = 5.0
SLOW_SETUP_FACTOR = 10.0  # make_optimizer + optimizer.init over a plain optimizer's, plus:
SLOW_SETUP_MARGIN = 1.0  # seconds


@dataclasses.dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def check_import(path: Path, time_limit: float = IMPORT_TIME_LIMIT
                 ) -> tuple[CheckResult, Submission | None]:
    """Import the submission in a child process; the result and the described submission."""
    start = time.perf_counter()
    try:
        submission = describe_submission(path, time_limit=time_limit)
    except SubmissionError as error:
        return CheckResult("import", False, str(error)), None
    seconds = time.perf_counter() - start
    hooks = [hook for hook in ("eval_params", "batch_size", "make_controller")
             if getattr(submission, hook) is not None]
    detail = (f"defines make_optimizer, DEFAULT_HPARAMS ({len(submission.default_hparams)} "
              f"hyperparameters)" + "".join(f", {hook}" for hook in hooks)
              + f"; a process importing it took {seconds:.1f}s")
    return CheckResult("import", True, detail), submission


def check_search_space(submission) -> CheckResult:
    if submission.search_space_path is None:
        return CheckResult("search space", True,
                           "none (external tuning unavailable; self-tuning only)")
    try:
        space = load_search_space(submission.search_space_path)
        space.check_names(submission.default_hparams, owner=f"submission {submission.name}")
        points = [resolve_hparams(submission, p) for p in space.sample(8, seed=0)]
    except (SearchSpaceError, HparamsError) as error:
        return CheckResult("search space", False, str(error))
    return CheckResult("search space", True,
                       f"{len(space.dimensions)} dimensions; {len(points)} draws resolve")


def run_training_trial(submission, workload_name: str, steps: int) -> tuple[dict, list[Path]]:
    """A few steps in an isolated process, in a fresh results directory: the record and every
    record file the directory held afterwards."""
    from bench.api import run_in_own_process

    workload = registry.get_workload(workload_name)
    settings = ProtocolSettings(max_steps=steps, eval_period=1e9, evaluate_test=False,
                                rules=rules.MACHINE_CLOCK_VERSION)
    with tempfile.TemporaryDirectory(prefix="bench-check-") as results:
        outcome = run_in_own_process(workload, submission, results_dir=results,
                                     settings=settings, time_limit=IMPORT_TIME_LIMIT + 300)
        found = [path for path in Path(results).rglob("*.json*") if path != outcome.path]
    return outcome.record, found


def training_result(record: dict, workload_name: str) -> CheckResult:
    name = f"training ({workload_name})"
    if record["outcome"] in ("error", "diverged"):
        first = (record["message"] or "").splitlines()[:1]
        return CheckResult(name, False, f"{record['outcome']}: {first[0] if first else ''}")
    losses = (record.get("train_curve") or {}).get("loss", [])
    change = f", loss {losses[0]:.3f} -> {losses[-1]:.3f}" if losses else ""
    return CheckResult(name, True, f"{record.get('steps')} steps at the default point{change}")


def tamper_result(record: dict) -> CheckResult:
    if record["outcome"] == "tampered":
        return CheckResult("harness untouched", False, record["message"])
    return CheckResult("harness untouched", True,
                       "clock, target test, spec and step function unchanged; no threads")


def records_result(stray: list[Path]) -> CheckResult:
    if stray:
        names = ", ".join(path.name for path in stray[:3])
        return CheckResult("records", False, f"{len(stray)} record file(s) the harness did not "
                                             f"write appeared in the results directory: {names}")
    return CheckResult("records", True, "only the harness's own record")


def plain_setup_seconds(workload_name: str) -> float:
    """Seconds to build a plain Adam, trace its init and run it on the workload's parameters,
    compilation left out as the trial leaves it out: the yardstick for a submission's setup."""
    import jax
    import optax

    params, _ = registry.get_workload(workload_name).init(jax.random.key(0))
    start = time.perf_counter()
    lowered = jax.jit(optax.adam(1e-3).init).lower(params)
    traced = time.perf_counter()
    compiled = lowered.compile()
    compiled_at = time.perf_counter()
    jax.block_until_ready(compiled(params))
    return (traced - start) + (time.perf_counter() - compiled_at)


def setup_result(record: dict, plain_seconds: float) -> CheckResult:
    setup = record.get("setup_time") or {}
    spent = (setup.get("make_optimizer") or 0.0) + (setup.get("optimizer_init") or 0.0)
    imported = setup.get("import") or 0.0
    detail = (f"import {imported:.2f}s, make_optimizer + optimizer.init {spent:.2f}s "
              f"(plain Adam: {plain_seconds:.2f}s)")
    slow = spent > SLOW_SETUP_FACTOR * plain_seconds + SLOW_SETUP_MARGIN
    if slow or imported > SLOW_IMPORT_SECONDS:
        return CheckResult("setup time", False, "far slower than a plain optimizer's, which can "
                                                f"hide training: {detail}")
    return CheckResult("setup time", True, detail)


def check_submission(path: str | Path, workload: str = DEFAULT_CHECK_WORKLOAD,
                     steps: int = 20) -> list[CheckResult]:
    """All checks of the submission at `path`; stops at the first one others depend on."""
    return review_submission(path, workload, steps)[0]


def review_submission(path: str | Path, workload: str = DEFAULT_CHECK_WORKLOAD, steps: int = 20
                      ) -> tuple[list[CheckResult], Submission | None]:
    """The checks, and the described submission (None when it could not be imported)."""
    path = Path(path)
    if path.is_dir():
        path = path / "submission.py"
    if not path.is_file():
        return [CheckResult("import", False, f"no submission file at {path}")], None
    imported, submission = check_import(path)
    results = [imported]
    if submission is None:
        return results, None
    results.append(CheckResult("default point", True, json.dumps(submission.default_hparams)))
    results.append(check_search_space(submission))
    if not results[-1].ok:
        return results, submission
    record, stray = run_training_trial(submission, workload, steps)
    results += [training_result(record, workload), tamper_result(record), records_result(stray)]
    if record["outcome"] not in ("error", "tampered"):
        results.append(setup_result(record, plain_setup_seconds(workload)))
    return results, submission
