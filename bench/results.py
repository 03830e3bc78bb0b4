"""Trial records as pandas data frames, and their export to CSV or Parquet.

    from bench import results
    tables = results.load("results")
    tables.trials   # one row per trial
    tables.evals    # the evaluation curves, long: one row per trial, evaluation and metric

`trials` columns: the trial's place (ruleset, submission, workload, study, trial), its outcome,
time- and steps-to-target (NaN when missed), the run's totals (steps, submission, evaluation,
compilation and wall time), the workload's target (target_metric, validation_target,
higher_is_better, variant_of), where it ran (hardware fingerprint, device kind and count; under
a clock in reference seconds, cpu-v3, also `clock_rate` and `reference_step_seconds`), the
submission's source hash, the git commit, the record's path, and one `hparam.<name>` column per
hyperparameter. `evals` columns: the five place columns, step, submission_time, metric (e.g.
`validation/accuracy`) and value. Every record is checked against its JSON Schema
(`bench.record_schema`) unless `validate=False`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from bench import record_schema
from bench.trial.record import RecordError, TrialId, read_record, record_paths

PLACE = ["ruleset", "submission", "workload", "study", "trial"]
TOTALS = ["steps", "submission_time", "eval_time", "compile_time", "wall_time",
          "data_wait_time", "device_count", "batch_size", "seed", "resumed"]
CLOCK = ["clock_rate", "reference_step_seconds"]  # a clock in reference seconds (bench.speed)
FORMATS = ("csv", "parquet")
EVAL_KEYS = ("step", "submission_time")


@dataclasses.dataclass(frozen=True)
class Results:
    """The records under some results directories, as two data frames."""

    trials: pd.DataFrame
    evals: pd.DataFrame


def load(*sources: str | Path, validate: bool = True) -> Results:
    """Every record under `sources` (directories or record files; default `results`)."""
    rows, curves = [], []
    for path in record_paths(sources or ("results",)):
        record = read_record(path)
        if validate:
            try:
                record_schema.validate(dict(record), source=path)
            except record_schema.RecordSchemaError as error:
                raise RecordError(str(error)) from None
        rows.append(trial_row(record, path))
        curves.extend(eval_rows(record))
    trials = pd.DataFrame(rows, columns=None if rows else trial_columns())
    evals = pd.DataFrame(curves, columns=PLACE + ["step", "submission_time", "metric", "value"])
    return Results(trials=trials, evals=evals)


def trial_columns() -> list[str]:
    return (PLACE + ["outcome", "time_to_target", "steps_to_target"] + TOTALS + CLOCK
            + ["target_metric", "validation_target", "higher_is_better", "variant_of",
               "hardware", "device_kind", "submission_sha256", "git_commit", "finished_at",
               "message", "path"])


def trial_row(record: Mapping, path: str | Path) -> dict:
    """One trial as a flat row (see the module docstring for the columns)."""
    spec = record.get("workload_spec") or {}
    hardware = record.get("hardware") or {}
    row = {key: record.get(key) for key in PLACE + ["outcome"]}
    row["time_to_target"] = _number(record.get("time_to_target"))
    row["steps_to_target"] = _number(record.get("steps_to_target"))
    row.update({key: record.get(key) for key in TOTALS + CLOCK})
    row.update(
        target_metric=spec.get("target_metric"), validation_target=spec.get("validation_target"),
        higher_is_better=spec.get("higher_is_better"), variant_of=spec.get("variant_of"),
        hardware=hardware.get("fingerprint"), device_kind=hardware.get("device_kind"),
        submission_sha256=record.get("submission_sha256"), git_commit=record.get("git_commit"),
        finished_at=record.get("finished_at"), message=record.get("message"), path=str(path),
    )
    for name, value in sorted((record.get("hparams") or {}).items()):
        row[f"hparam.{name}"] = value if not isinstance(value, (list, dict)) else repr(value)
    return row


def eval_rows(record: Mapping) -> list[dict]:
    """The evaluation curve, one row per evaluation and metric."""
    place = {key: record.get(key) for key in PLACE}
    rows = []
    for evaluation in record.get("evals") or []:
        for metric, value in evaluation.items():
            if metric in EVAL_KEYS or metric == "eval_seconds":
                continue
            rows.append({**place, "step": evaluation["step"],
                         "submission_time": evaluation["submission_time"],
                         "metric": metric, "value": _number(value)})
    return rows


def _number(value) -> float:
    return math.nan if value is None else float(value)


def export(sources: Iterable[str | Path], out_dir: str | Path, format: str = "csv",
           validate: bool = True) -> list[Path]:
    """Write trials.<format> and evals.<format> into `out_dir`; returns their paths."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r} (choose {' or '.join(FORMATS)})")
    tables = load(*sources, validate=validate)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in (("trials", tables.trials), ("evals", tables.evals)):
        path = out / f"{name}.{format}"
        if format == "csv":
            frame.to_csv(path, index=False)
        else:
            parquet_ready(frame).to_parquet(path, index=False)
        paths.append(path)
    return paths


def parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with each column of mixed value types (a hyperparameter that is a number in one
    submission and a string in another) written as text, which Parquet's typed columns need."""
    out = frame.copy()
    for name in out.columns[out.dtypes == object]:
        present = out[name].dropna()
        if len({type(value) for value in present}) > 1:
            out[name] = out[name].map(lambda value: None if _missing(value) else str(value))
    return out


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def next_trial(results_dir: str | Path, ruleset: str, submission: str, workload: str,
               study: int = 0) -> int:
    """The next free trial number of a study: one past the highest number that has a record, a
    checkpoint, a lock or a set-aside record in its folder; 0 in an empty folder."""
    folder = TrialId(ruleset, submission, workload, study, 0).path(results_dir).parent
    taken = [int(match.group(1)) for path in (folder.iterdir() if folder.is_dir() else ())
             if (match := re.match(r"trial_(\d+)\.", path.name))]
    return max(taken, default=-1) + 1
