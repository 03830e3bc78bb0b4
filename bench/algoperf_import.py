"""Import AlgoPerf experiment logs as bench records, so published results can be scored with ours.

AlgoPerf (mlcommons/algorithmic-efficiency) writes, per trial, a folder

    <logs>/<ruleset>/<submission>/study_<k>/<workload>_<framework>/trial_<n>/

holding `eval_measurements.csv` (one row per evaluation; columns include global_step,
accumulated_submission_time, accumulated_eval_time and the metrics as validation/<name>,
test/<name>, train/<name>), `hparams.json` and `meta_data_0.json` (rng_seed, GPU and CPU model
names). Ruleset folders are named `external_tuning` / `self_tuning`; a layout without them can be
given `ruleset` and `submission` instead.

Like AlgoPerf's scorer (scoring/scoring_utils.py, get_experiment_df), only
`study_<k>/<workload>_<framework>/trial_<n>` folders are trials, and only workloads of the chosen
rules version (`bench.rules`) are imported; any other folder holding an eval_measurements.csv
(a rerun stored without its workload folder, an unknown workload) is listed and skipped.

Each trial becomes one record under the rules version: outcome `hit` at the first evaluation
meeting the version's validation target (its metric and target, not the log's meta data, as
AlgoPerf's scorer does), time-to-target the accumulated submission time there and
`evals_to_target` the number of evaluations up to it; `budget` otherwise (`diverged` when the last
validation loss is not finite). The hardware fingerprint is derived from the GPU (or CPU) model
and count, so imported times are only ranked against records from the same kind of machine.
The logs hold no code, so an imported record's source hash is that of its submission's name: the
trials of one submission differ in their hyperparameters, not in their source.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import re
from pathlib import Path

from bench import rules as rules_module
from bench.trial.record import SCHEMA_VERSION, Record, RecordError, TrialId, read_record, write_record

RULESET_FOLDERS = {"external_tuning": "external", "self_tuning": "self",
                   "external": "external", "self": "self"}
FRAMEWORKS = ("jax", "pytorch")
DEFAULT_RULES = "algoperf-v0.6"
MEASUREMENTS = "eval_measurements.csv"


@dataclasses.dataclass(frozen=True)
class TrialFolder:
    path: Path
    ruleset: str
    submission: str
    workload: str
    study: int
    trial: int


@dataclasses.dataclass
class ImportResult:
    written: list[Path]
    kept: int  # records already imported from the same folder
    skipped: list[str]  # "<folder>: <why>" for folders holding measurements that are not trials


def split_workload_folder(folder: str) -> str | None:
    """`imagenet_resnet_jax` -> `imagenet_resnet`; None when there is no framework suffix."""
    for framework in FRAMEWORKS:
        if folder.endswith("_" + framework):
            return folder[: -len(framework) - 1]
    return None


def classify(parts: tuple[str, ...], workloads, ruleset: str | None,
             submission: str | None) -> tuple[TrialFolder | None, str]:
    """The trial a folder (its path parts below the logs) holds, or None and why not."""
    if len(parts) < 3 or not re.fullmatch(r"trial_\d+", parts[-1]):
        return None, "not a trial_<n> folder"
    if not re.fullmatch(r"study_\d+", parts[-3]):
        return None, "not in a study_<k>/<workload>_<framework> folder"
    workload = split_workload_folder(parts[-2])
    if workload is None or workload not in workloads:
        return None, f"{parts[-2]!r} is not <workload>_<framework> for a workload of these rules"
    above = parts[:-3]
    found_ruleset = next((RULESET_FOLDERS[p] for p in reversed(above) if p in RULESET_FOLDERS),
                         None)
    chosen_ruleset = ruleset or found_ruleset
    chosen_submission = submission or (above[-1] if above and above[-1] not in RULESET_FOLDERS
                                       else None)
    if chosen_ruleset is None or chosen_submission is None:
        return None, "cannot tell the ruleset and submission from the path (pass them)"
    return TrialFolder(Path(*parts), chosen_ruleset, chosen_submission, workload,
                       int(parts[-3].split("_")[1]), int(parts[-1].split("_")[1])), ""


def find_trials(logs: Path, workloads, ruleset: str | None = None,
                submission: str | None = None) -> tuple[list[TrialFolder], list[str]]:
    """(trials, skipped folders) for every eval_measurements.csv under `logs`."""
    trials, skipped = [], []
    for folder, _, files in os.walk(logs):
        if MEASUREMENTS not in files:
            continue
        parts = Path(folder).relative_to(logs).parts
        trial, why = classify(parts, workloads, ruleset, submission)
        if trial is None:
            skipped.append(f"{Path(*parts) if parts else '.'}: {why}")
        else:
            trials.append(trial)
    trials.sort(key=lambda t: t.path.parts)
    return trials, sorted(skipped)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def read_eval_csv(path: Path) -> list[dict[str, float]]:
    """The evaluations of one trial: per row, step, submission time and every split's metrics."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        rows = list(reader)
    if not header or not rows:
        raise RecordError(f"{path} holds no evaluations")
    for column in ("global_step", "accumulated_submission_time"):
        if column not in header:
            raise RecordError(f"{path} has no {column} column; is it an AlgoPerf {MEASUREMENTS}?")
    step, time = header.index("global_step"), header.index("accumulated_submission_time")
    metrics = [(i, name) for i, name in enumerate(header)
               if name.startswith(("validation/", "test/", "train/"))
               or name in ("accumulated_eval_time", "total_duration")]
    evals = []
    for row in rows:
        entry = {"step": int(float(row[step])), "submission_time": _number(row[time])}
        entry.update({name: _number(row[i]) for i, name in metrics if i < len(row)})
        evals.append(entry)
    return evals


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as error:
        raise RecordError(f"{path} is not valid JSON: {error}") from None


def first_hit(evals: list[dict], workload: rules_module.WorkloadRules) -> int | None:
    """Index of the first evaluation meeting the validation target, None when none does."""
    key = f"validation/{workload.target_metric}"
    target = workload.validation_target
    for index, row in enumerate(evals):
        value = row.get(key, math.nan)
        if value >= target if workload.higher_is_better else value <= target:
            return index  # NaN compares false either way
    return None


def trial_record(logs: Path, found: TrialFolder, rules: rules_module.Rules) -> dict:
    """One bench record from one AlgoPerf trial folder, under `rules`."""
    trial_dir = logs / found.path
    evals = read_eval_csv(trial_dir / MEASUREMENTS)
    meta = _read_json(trial_dir / "meta_data_0.json")
    workload = rules.workload(found.workload)
    hit = first_hit(evals, workload)
    hit_row, last = (evals[hit] if hit is not None else None), evals[-1]
    if hit_row is not None:
        outcome, message = "hit", ""
    elif not math.isfinite(last.get("validation/loss", 0.0)):
        outcome, message = "diverged", "validation loss not finite (imported from AlgoPerf)"
    else:
        outcome, message = "budget", "target not reached (imported from AlgoPerf)"
    machine = meta.get("gpu_model_name") or meta.get("cpu_model_name") or "unknown"
    count = meta.get("gpu_count") or meta.get("cpu_count") or 0
    fingerprint = hashlib.sha256(f"algoperf|{machine}|{count}".encode()).hexdigest()[:12]
    return Record.from_dict({
        "schema_version": SCHEMA_VERSION,
        **dataclasses.asdict(TrialId(found.ruleset, found.submission, found.workload,
                                     found.study, found.trial)),
        "rules": rules.version,
        "outcome": outcome, "message": message,
        "time_to_target": hit_row["submission_time"] if hit_row else None,
        "steps_to_target": hit_row["step"] if hit_row else None,
        "evals_to_target": hit + 1 if hit is not None else None,
        "seed": meta.get("rng_seed"),
        "hparams": _read_json(trial_dir / "hparams.json"),
        "batch_size": meta.get("workload.batch_size"),
        "protocol": {"max_runtime": workload.max_runtime},
        "steps": last["step"],
        "submission_time": last["submission_time"],
        "eval_time": last.get("accumulated_eval_time", math.nan),
        "compile_time": None,
        "compile_time_counted": rules.timing.compile_counts,
        "wall_time": last.get("total_duration", math.nan),
        "evals": evals,
        "train_curve": {},
        "workload_spec": {
            "name": found.workload, "tier": rules.tier, "target_metric": workload.target_metric,
            "validation_target": workload.validation_target, "test_target": workload.test_target,
            "higher_is_better": workload.higher_is_better, "step_hint": workload.step_hint,
            "max_runtime": workload.max_runtime, "variant_of": workload.variant_of,
        },
        "submission_path": None,
        "submission_sha256": hashlib.sha256(f"algoperf|{found.submission}".encode()).hexdigest(),
        "hardware": {"fingerprint": fingerprint, "device_kind": machine, "device_count": count},
        "versions": {"source": "algoperf"},
        "git_commit": meta.get("git_commit_hash"),
        "imported_from": str(trial_dir),
    }, source=trial_dir)


def import_logs(logs: str | Path, results_dir: str | Path, ruleset: str | None = None,
                submission: str | None = None, rules: str = DEFAULT_RULES) -> ImportResult:
    """Write a record for every AlgoPerf trial under `logs`; existing identical ones are kept."""
    logs = Path(logs)
    if not logs.is_dir():
        raise RecordError(f"no AlgoPerf logs directory at {logs}")
    rules_data = rules_module.load(rules)
    if rules_data.tier != "full":
        raise rules_module.RulesError(
            f"rules {rules} define no AlgoPerf workloads; choose an algoperf version")
    trials, skipped = find_trials(logs, rules_data.workloads, ruleset, submission)
    if not trials and not skipped:
        raise RecordError(f"no {MEASUREMENTS} under {logs}")
    result = ImportResult([], 0, skipped)
    for found in trials:
        trial_id = TrialId(found.ruleset, found.submission, found.workload, found.study,
                           found.trial)
        path = trial_id.path(results_dir)
        if path.exists():
            if read_record(path).get("imported_from") == str(logs / found.path):
                result.kept += 1
                continue
            raise RecordError(f"{path} already holds another trial; import into another --results-dir")
        write_record(path, trial_record(logs, found, rules_data))
        result.written.append(path)
    return result
