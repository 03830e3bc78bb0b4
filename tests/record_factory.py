"""Records for tests of readers: one trial run for real on the tiny workload, then copies of it
at other places with other outcomes, so every copy has the layout the harness writes."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

from bench import api
from bench.protocol import ProtocolSettings
from bench.trial.record import Record, TrialId, write_record
from bench.submission import load_submission
from tests.conftest import SGD_SUBMISSION, TinyRegression, write_submission

HIT_SETTINGS = ProtocolSettings(max_steps=400, eval_every_steps=10)


def real_record(tmp_path: Path) -> dict:
    """A finished trial of plain SGD on the tiny workload (it hits the target in tens of steps)."""
    submission = load_submission(write_submission(tmp_path / "submissions", SGD_SUBMISSION))
    outcome = api.run(TinyRegression(), submission, results_dir=tmp_path / "seed_run",
                      settings=HIT_SETTINGS)
    record = json.loads(outcome.path.read_text())
    assert record["outcome"] == "hit", record["message"]
    return record


def variant(record: dict, *, submission: str, workload: str, study: int, trial: int,
            time: float | None, ruleset: str = "external") -> dict:
    """A copy of `record` at another place; `time` None makes it a miss (outcome budget)."""
    out = copy.deepcopy(record)
    out.update(ruleset=ruleset, submission=submission, workload=workload, study=study,
               trial=trial)
    out["workload_spec"]["name"] = workload
    if time is None:
        out.update(outcome="budget", time_to_target=None, steps_to_target=None,
                   message="target not reached")
    else:
        scale = time / record["time_to_target"]
        out["time_to_target"] = time
        out["steps_to_target"] = int(round(record["steps_to_target"] * scale))
        for row in out["evals"]:
            row["submission_time"] *= scale
    return out


def write_all(results_dir: Path, records: list[dict]) -> None:
    for record in records:
        place = TrialId(record["ruleset"], record["submission"], record["workload"],
                        record["study"], record["trial"])
        write_record(place.path(results_dir), Record.from_dict(record))


def finite(value) -> bool:
    return value is not None and math.isfinite(value)
