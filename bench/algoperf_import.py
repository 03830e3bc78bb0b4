"""Import AlgoPerf experiment logs as bench records, so published results can be scored with ours.

AlgoPerf (mlcommons/algorithmic-efficiency) writes, per trial, a folder

    <logs>/<ruleset>/<submission>/study_<k>/<workload>_<framework>/trial_<n>/

holding `eval_measurements.csv` (one row per evaluation; columns include global_step,
accumulated_submission_time, accumulated_eval_time, preemption_count and the metrics as
validation/<name>, test/<name>, train/<name>), `hparams.json` and `meta_data_0.json` (workload
properties as `workload.<attribute>`, rng_seed, GPU and CPU model names). Ruleset folders are
named `external_tuning` / `self_tuning`; a layout without them can be given `--ruleset` and
`--submission` instead.

Each trial becomes one record: outcome `hit` at the first evaluation meeting the validation target
(from the meta data when present, else AlgoPerf v0.5's published targets), time-to-target the
accumulated submission time there, `budget` otherwise (`diverged` when the last validation loss
is not finite). The hardware fingerprint is derived from the GPU (or CPU) model and count, so
imported times are only ranked against records from the same kind of machine.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from pathlib import Path

from bench.trial.record import (
    SCHEMA_VERSION, Record, RecordError, TrialId, read_record, write_record,
)

RULESET_FOLDERS = {"external_tuning": "external", "self_tuning": "self",
                   "external": "external", "self": "self"}
FRAMEWORKS = ("jax", "pytorch")

# AlgoPerf v0.5 validation targets: workload -> (metric, target, step hint or None).
ALGOPERF_TARGETS = {
    "criteo1tb": ("loss", 0.123735, 10666),
    "fastmri": ("ssim", 0.723653, 18094),
    "imagenet_resnet": ("accuracy", 0.77431, 195999),
    "imagenet_vit": ("accuracy", 0.77309, 167999),
    "librispeech_conformer": ("wer", 0.085884, 76000),
    "librispeech_deepspeech": ("wer", 0.119936, 38400),
    "ogbg": ("mean_average_precision", 0.28098, 52000),
    "wmt": ("bleu", 30.8491, 120000),
    "criteo1tb_layernorm": ("loss", 0.123757, None),
    "criteo1tb_embed_init": ("loss", 0.129657, None),
    "criteo1tb_resnet": ("loss", 0.12415, None),
    "fastmri_model_size": ("ssim", 0.723559, None),
    "fastmri_tanh": ("ssim", 0.71784, None),
    "fastmri_layernorm": ("ssim", 0.723284, None),
    "imagenet_resnet_silu": ("accuracy", 0.75445, None),
    "imagenet_resnet_gelu": ("accuracy", 0.76765, None),
    "imagenet_resnet_large_bn_init": ("accuracy", 0.76526, None),
    "imagenet_vit_glu": ("accuracy", 0.75738, None),
    "imagenet_vit_post_ln": ("accuracy", 0.75312, None),
    "imagenet_vit_map": ("accuracy", 0.77113, None),
    "librispeech_conformer_attention_temperature": ("wer", 0.109977, None),
    "librispeech_conformer_layernorm": ("wer", 0.09731, None),
    "librispeech_conformer_gelu": ("wer", 0.094114, None),
    "librispeech_deepspeech_tanh": ("wer", 0.150883, None),
    "librispeech_deepspeech_no_resnet": ("wer", 0.131564, None),
    "librispeech_deepspeech_norm_and_spec_aug": ("wer", 0.14342, None),
    "ogbg_gelu": ("mean_average_precision", 0.27771, None),
    "ogbg_silu": ("mean_average_precision", 0.282178, None),
    "ogbg_model_size": ("mean_average_precision", 0.269446, None),
    "wmt_post_ln": ("bleu", 30.0779, None),
    "wmt_attention_temp": ("bleu", 29.3379, None),
    "wmt_glu_tanh": ("bleu", 29.5779, None),
    "mnist": ("accuracy", 0.97, 7813),
    "cifar": ("accuracy", 0.85, 4883),
}
LOWER_IS_BETTER = ("loss", "wer", "error", "error_rate", "ctc_loss")


def higher_is_better(metric: str) -> bool:
    return not any(metric == name or metric.endswith(name) for name in LOWER_IS_BETTER)


def base_workload(name: str) -> str | None:
    """The base workload of an AlgoPerf variant name, None for a base workload."""
    bases = [b for b, (_, _, hint) in ALGOPERF_TARGETS.items() if hint is not None]
    for base in sorted(bases, key=len, reverse=True):
        if name != base and name.startswith(base + "_"):
            return base
    return None


def _number(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def read_eval_csv(path: Path) -> list[dict[str, float]]:
    with path.open(newline="") as handle:
        rows = [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(handle)]
    if not rows:
        raise RecordError(f"{path} holds no evaluations")
    for column in ("global_step", "accumulated_submission_time"):
        if column not in rows[0]:
            raise RecordError(f"{path} has no {column} column; is it an AlgoPerf eval_measurements.csv?")
    return rows


def _read_json(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RecordError(f"{path} is not valid JSON: {error}") from None


def _split_workload_folder(folder: str) -> str:
    for framework in FRAMEWORKS:
        if folder.endswith("_" + framework):
            return folder[: -len(framework) - 1]
    return folder


def trial_record(trial_dir: Path, ruleset: str, submission: str, study: int) -> dict:
    """One bench record from one AlgoPerf trial folder."""
    rows = read_eval_csv(trial_dir / "eval_measurements.csv")
    meta = _read_json(trial_dir / "meta_data_0.json")
    hparams = _read_json(trial_dir / "hparams.json")
    workload = _split_workload_folder(trial_dir.parent.name)
    match = re.fullmatch(r"trial_(\d+)", trial_dir.name)
    trial = int(match.group(1)) if match else 0

    known = ALGOPERF_TARGETS.get(workload)
    metric = meta.get("workload.target_metric_name") or (known[0] if known else None)
    target = meta.get("workload.validation_target_value", known[1] if known else None)
    if metric is None or target is None:
        raise RecordError(
            f"{trial_dir}: unknown AlgoPerf workload {workload!r} and no target in its meta data"
        )
    step_hint = meta.get("workload.step_hint", known[2] if known else None)
    higher = higher_is_better(metric)
    key = f"validation/{metric}"

    evals, hit_row = [], None
    for row in rows:
        entry = {"step": int(row["global_step"]), "submission_time": row["accumulated_submission_time"]}
        entry.update({k: v for k, v in row.items() if k.startswith(("validation/", "test/", "train/"))})
        evals.append(entry)
        value = row.get(key, math.nan)
        if hit_row is None and math.isfinite(value) and (value >= target if higher else value <= target):
            hit_row = entry
    last = evals[-1]
    if hit_row is not None:
        outcome, message = "hit", ""
    elif not math.isfinite(last.get("validation/loss", 0.0)):
        outcome, message = "diverged", "validation loss not finite (imported from AlgoPerf)"
    else:
        outcome, message = "budget", "target not reached (imported from AlgoPerf)"

    machine = meta.get("gpu_model_name") or meta.get("cpu_model_name") or "unknown"
    count = meta.get("gpu_count") or meta.get("cpu_count") or 0
    fingerprint = hashlib.sha256(f"algoperf|{machine}|{count}".encode()).hexdigest()[:12]
    source = (trial_dir / "eval_measurements.csv").read_bytes()
    return Record.from_dict({
        "schema_version": SCHEMA_VERSION,
        "ruleset": ruleset, "submission": submission, "workload": workload,
        "study": study, "trial": trial,
        "outcome": outcome, "message": message,
        "time_to_target": hit_row["submission_time"] if hit_row else None,
        "steps_to_target": hit_row["step"] if hit_row else None,
        "seed": meta.get("rng_seed"),
        "hparams": hparams,
        "batch_size": meta.get("workload.batch_size"),
        "protocol": {"max_runtime": meta.get("workload.max_allowed_runtime_sec")},
        "steps": last["step"],
        "submission_time": last["submission_time"],
        "eval_time": rows[-1].get("accumulated_eval_time", math.nan),
        "compile_time": None,
        "compile_time_counted": True,  # AlgoPerf counts compilation as submission time
        "wall_time": rows[-1].get("total_duration", math.nan),
        "evals": evals,
        "train_curve": {},
        "workload_spec": {
            "name": workload, "tier": "full", "target_metric": metric,
            "validation_target": target, "higher_is_better": higher, "step_hint": step_hint,
            "variant_of": base_workload(workload),
        },
        "submission_path": None,
        "submission_sha256": hashlib.sha256(json.dumps(hparams, sort_keys=True).encode()).hexdigest(),
        "hardware": {"fingerprint": fingerprint, "device_kind": machine, "device_count": count},
        "versions": {"source": "algoperf"},
        "git_commit": meta.get("git_commit_hash"),
        "imported_from": str(trial_dir),
    }, source=trial_dir)


def find_trials(logs: Path, ruleset: str | None, submission: str | None):
    """(trial_dir, ruleset, submission, study) for every eval_measurements.csv under `logs`."""
    for csv_path in sorted(Path(logs).rglob("eval_measurements.csv")):
        trial_dir = csv_path.parent
        parts = trial_dir.relative_to(logs).parts
        study = 0
        study_parts = [p for p in parts if re.fullmatch(r"study_\d+", p)]
        if study_parts:
            study = int(study_parts[-1].split("_")[1])
        found_ruleset = next((RULESET_FOLDERS[p] for p in parts if p in RULESET_FOLDERS), None)
        found_submission = None
        if found_ruleset is not None:
            index = next(i for i, p in enumerate(parts) if p in RULESET_FOLDERS)
            if index + 1 < len(parts) - 2:
                found_submission = parts[index + 1]
        chosen_ruleset = ruleset or found_ruleset
        chosen_submission = submission or found_submission
        if chosen_ruleset is None or chosen_submission is None:
            raise RecordError(
                f"{trial_dir}: cannot tell the ruleset and submission from the path; "
                "pass --ruleset and --submission"
            )
        yield trial_dir, chosen_ruleset, chosen_submission, study


def import_logs(logs: str | Path, results_dir: str | Path, ruleset: str | None = None,
                submission: str | None = None) -> list[Path]:
    """Write a record for every AlgoPerf trial under `logs`; existing identical ones are kept."""
    logs = Path(logs)
    if not logs.is_dir():
        raise RecordError(f"no AlgoPerf logs directory at {logs}")
    written = []
    for trial_dir, rule, name, study in find_trials(logs, ruleset, submission):
        record = trial_record(trial_dir, rule, name, study)
        path = TrialId(rule, name, record["workload"], study, record["trial"]).path(results_dir)
        if path.exists():
            if read_record(path).get("imported_from") == record["imported_from"]:
                continue
            raise RecordError(f"{path} already holds another trial; import into another --results-dir")
        write_record(path, record)
        written.append(path)
    if not written and not any(True for _ in logs.rglob("eval_measurements.csv")):
        raise RecordError(f"no eval_measurements.csv under {logs}")
    return written
