"""`bench ci`: check a contributed submission, run its cpu-tier study, score it against the
committed reference leaderboard, and write a markdown report fit for a pull-request comment.

The reference leaderboard (`results/reference/<ruleset>/leaderboard.json`, written by
`bench score`) keeps every study's time and steps per submission and workload, so the new
submission is ranked against the reference submissions without their records. Times are only
compared when the CI machine has the reference's hardware fingerprint; elsewhere the ranking
uses steps to target, and the report says so.

Exit status: non-zero when the submission is invalid (a failed check); a valid submission that
scores poorly still passes, the report shows how it compares.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from bench import registry, scoring, tuning
from bench.check import CheckResult, check_submission
from bench.protocol import ProtocolSettings
from bench.trial.record import load_records
from bench.reporting import format_ratio, format_value
from bench.scoring import Entry

DEFAULT_REFERENCE = Path("results/reference")


@dataclasses.dataclass
class CiResult:
    valid: bool
    report: str
    scores: dict[str, float] = dataclasses.field(default_factory=dict)
    measure: str = "time"


def _reference_entries(data: dict, measure: str) -> dict[str, dict[str, Entry]]:
    entries: dict[str, dict[str, Entry]] = {}
    for submission, row in data.get("studies", {}).items():
        for workload, cell in row.items():
            values = tuple(math.inf if v is None else float(v) for v in cell.get(measure, []))
            if values:
                hits = sum(math.isfinite(v) for v in values)
                entries.setdefault(submission, {})[workload] = Entry(values, len(values), hits)
    return entries


def _checks_markdown(results: list[CheckResult]) -> list[str]:
    lines = ["| check | result | detail |", "|---|---|---|"]
    for result in results:
        detail = result.detail.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {result.name} | {'pass' if result.ok else '**FAIL**'} | {detail} |")
    return lines


def run_ci(
    path: str | Path,
    *,
    reference_dir: str | Path = DEFAULT_REFERENCE,
    ruleset: str = "self",
    studies: int = 1,
    trials: int | None = None,
    workloads: list[str] | None = None,
    results_dir: str | Path = "results/ci",
    settings: ProtocolSettings = ProtocolSettings(),
    jobs: int = 1,
) -> CiResult:
    checks = check_submission(path)
    lines = [f"## bench ci: `{path}`", "", "### Checks", ""] + _checks_markdown(checks)
    if not all(c.ok for c in checks):
        lines += ["", "The submission is invalid; fix the failed check and push again."]
        return CiResult(False, "\n".join(lines) + "\n")

    submission = registry.get_submission(str(path))
    names = workloads or [w.name for w in registry.all_workloads().values() if w.spec.tier == "cpu"]
    tuning.run_study(submission, names, ruleset=ruleset, studies=studies, trials=trials,
                     results_dir=str(results_dir), settings=settings, isolate=True, jobs=jobs)
    records = [r for r in load_records([Path(results_dir) / ruleset / submission.name])[0]
               if r["workload"] in names]

    lines += ["", f"### Study ({ruleset} tuning, {studies} stud{'y' if studies == 1 else 'ies'})",
              "", "| workload | trials | hit | best time | best steps |", "|---|---|---|---|---|"]
    for name in names:
        group = [r for r in records if r["workload"] == name]
        hits = [r for r in group if r["outcome"] == "hit"]
        best = min(hits, key=lambda r: r["time_to_target"]) if hits else None
        lines.append(f"| {name} | {len(group)} | {len(hits)} | "
                     f"{format_value(best['time_to_target'], 'time') if best else 'miss'} | "
                     f"{best['steps_to_target'] if best else '-'} |")

    reference_file = Path(reference_dir) / ruleset / "leaderboard.json"
    if not reference_file.exists():
        lines += ["", f"No reference leaderboard at `{reference_file}`: nothing to rank against."]
        return CiResult(True, "\n".join(lines) + "\n")
    reference = json.loads(reference_file.read_text())
    fingerprints = {r["hardware"]["fingerprint"] for r in records}
    measure = "time" if fingerprints <= set(reference.get("hardware", [])) else "steps"
    entries = _reference_entries(reference, measure)
    entries.pop(submission.name, None)
    entries[submission.name] = scoring.study_table(records, measure).get(submission.name, {})
    variants = reference.get("variants", {})
    bases = sorted(set(reference.get("workloads", [])) | {n for n in names if n not in variants})
    medians = {s: {w: e.median for w, e in row.items()} for s, row in entries.items()}
    ratios, _, scores = scoring.scores_from_times(scoring.base_times(medians, bases, variants))

    lines += ["", f"### Against the reference leaderboard ({measure} to target)", ""]
    if measure == "steps":
        lines += ["This machine's hardware fingerprint differs from the reference's, so the "
                  "ranking compares steps to target, not seconds.", ""]
    lines += ranking_lines(scores, medians, ratios, bases, measure, submission.name)
    return CiResult(True, "\n".join(lines) + "\n", scores, measure)


def ranking_lines(scores, medians, ratios, bases, measure: str, this: str) -> list[str]:
    """The ranking as markdown rows, cells written as `bench score` writes them: a hit more
    than tau_max times slower than the best is '>4', a miss 'miss (inf)'."""
    lines = ["| submission | score | " + " | ".join(bases) + " |", "|---" * (2 + len(bases)) + "|"]
    for name in sorted(scores, key=lambda s: (-scores[s], s)):
        mark = f"**{name}** (this PR)" if name == this else name
        times = [medians[name].get(w, math.inf) for w in bases]
        cells = [f"{format_value(time, measure)} ({format_ratio(ratios[name][w], time)})"
                 for w, time in zip(bases, times)]
        lines.append(f"| {mark} | {scores[name]:.3f} | " + " | ".join(cells) + " |")
    return lines
