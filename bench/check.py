"""`bench check`: validate a contributed submission before it is run at scale.

Each check is a small function returning a `CheckResult`; the report lists them all. The checks,
in order (a failing one stops those that depend on it):

1. import: the module imports in a separate process within a time limit (untrusted code must not
   hang or crash the checker) and defines the API with the right signatures;
2. default point: DEFAULT_HPARAMS holds only JSON scalars;
3. search space: search_space.json (if any; required for external tuning) is valid, names only
   the submission's hyperparameters, and its draws resolve to complete points;
4. training: a few steps of a cpu-tier workload at the default point, in an isolated process,
   end without an error or a divergence.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import registry
from bench.protocol import ProtocolSettings
from bench.search_space import SearchSpaceError, load_search_space
from bench.submission import HparamsError, SubmissionError, load_submission, resolve_hparams

IMPORT_TIME_LIMIT = 120.0
DEFAULT_CHECK_WORKLOAD = "mnist1d_mlp"

# The probe answers in a file (argv[2]), not on stdout, which the submission may print to.
_IMPORT_PROBE = """
import json, sys
from bench.submission import load_submission, SubmissionError
try:
    s = load_submission(sys.argv[1])
except SubmissionError as error:
    answer = {"ok": False, "detail": str(error)}
else:
    answer = {"ok": True, "detail": f"defines make_optimizer, DEFAULT_HPARAMS "
              f"({len(s.default_hparams)} hyperparameters)"
              + (", eval_params" if s.eval_params else "")
              + (", batch_size" if s.batch_size else "")}
with open(sys.argv[2], "w") as handle:
    json.dump(answer, handle)
"""


@dataclasses.dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def check_import(path: Path, time_limit: float = IMPORT_TIME_LIMIT) -> CheckResult:
    with tempfile.TemporaryDirectory(prefix="bench-check-") as folder:
        answer_path = Path(folder) / "answer.json"
        try:
            done = subprocess.run(
                [sys.executable, "-c", _IMPORT_PROBE, str(path), str(answer_path)],
                capture_output=True, text=True, timeout=time_limit,
            )
        except subprocess.TimeoutExpired:
            return CheckResult("import", False, f"importing took more than {time_limit:.0f}s")
        try:
            answer = json.loads(answer_path.read_text())
        except (OSError, json.JSONDecodeError):
            answer = None
    if done.returncode != 0 or answer is None:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return CheckResult("import", False, f"the import process failed ({done.returncode}): {tail}")
    return CheckResult("import", answer["ok"], answer["detail"])


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


def check_training(submission, workload_name: str, steps: int) -> CheckResult:
    from bench.trial.backends import TrialRequest, run_isolated
    from bench.trial.record import TrialId

    workload = registry.get_workload(workload_name)
    settings = ProtocolSettings(max_steps=steps, eval_period=1e9, evaluate_test=False)
    trial_id = TrialId("single", submission.name, workload.name)
    with tempfile.TemporaryDirectory(prefix="bench-check-") as results:
        request = TrialRequest(workload, submission, dict(submission.default_hparams), trial_id,
                               results_dir=results, settings=settings)
        outcome = run_isolated(request, time_limit=IMPORT_TIME_LIMIT + 300)
    record = outcome.record
    if record["outcome"] in ("error", "diverged"):
        first = (record["message"] or "").splitlines()[:1]
        return CheckResult(f"training ({workload_name})", False,
                           f"{record['outcome']}: {first[0] if first else ''}")
    losses = record["train_curve"].get("loss", [])
    change = f", loss {losses[0]:.3f} -> {losses[-1]:.3f}" if losses else ""
    return CheckResult(f"training ({workload_name})", True,
                       f"{record['steps']} steps at the default point{change}")


def check_submission(path: str | Path, workload: str = DEFAULT_CHECK_WORKLOAD,
                     steps: int = 20) -> list[CheckResult]:
    """All checks of the submission at `path`; stops at the first one others depend on."""
    path = Path(path)
    if path.is_dir():
        path = path / "submission.py"
    if not path.is_file():
        return [CheckResult("import", False, f"no submission file at {path}")]
    results = [check_import(path)]
    if not results[-1].ok:
        return results
    try:
        submission = load_submission(path)
    except SubmissionError as error:  # imported in the probe, but not here: report it
        return results + [CheckResult("import", False, str(error))]
    results.append(CheckResult("default point", True, json.dumps(submission.default_hparams)))
    results.append(check_search_space(submission))
    if not results[-1].ok:
        return results
    results.append(check_training(submission, workload, steps))
    return results
