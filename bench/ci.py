"""`bench ci`: check a contributed submission, run its cpu-tier study, score it against the
committed reference leaderboard, and write a markdown report fit for a pull-request comment.

The submission is untrusted. This process never imports it (`bench.describe`); it runs every
trial itself, each in its own process, in a fresh results directory, and keeps the path and
SHA-256 of each record its trials wrote (`Ledger`). Only those records are scored, and only if
`bench.trust.vouch` accepts them (not tampered, consistent with their own evaluations, measured
under the current definitions). Any other record file found there (dropped by the submission,
or changed after its trial ended) is set aside and listed in the report. Each trial has a
wall-clock limit, and the whole study a total one kept under the workflow's timeout: trials
that no longer fit are not run, and the report says so.

The reference leaderboard (`results/reference/<ruleset>/leaderboard.json`, written by
`bench score`) keeps every study's time and steps per submission and workload, so the new
submission is ranked against the reference submissions without their records. Under a clock
of machine seconds, times are only compared when the CI machine has the reference's hardware
fingerprint, elsewhere the ranking uses steps to target and the report says so; under a clock
in reference seconds (rules cpu-v3, `bench.speed`) times compare on any machine.

Exit status: non-zero when the submission is invalid (a failed check, a tampered or refused
record); a valid submission that scores poorly still passes, the report shows how it compares.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import time
from pathlib import Path

from bench import api, environment, registry, reporting, rules, scoring, trust, tuning
from bench.check import CheckResult, review_submission
from bench.protocol import ProtocolSettings
from bench.trial.record import DEFAULT_RULES as RULES_BEFORE_THE_FIELD
from bench.trial.record import TrialId, read_record, record_paths
from bench.reporting import format_ratio, format_value
from bench.scoring import Entry

DEFAULT_REFERENCE = Path("results/reference")
TOTAL_SECONDS = 45 * 60.0  # the study's wall-clock limit: under the workflow's 60 minutes
MIN_TRIAL_SECONDS = 30.0  # a trial is not started with less time than this left


@dataclasses.dataclass
class CiResult:
    valid: bool
    report: str
    scores: dict[str, float] = dataclasses.field(default_factory=dict)
    measure: str = "time"


def trial_time_limit(workload, settings: ProtocolSettings) -> float:
    """Wall-clock seconds one CI trial may take: twice its budget plus two minutes for
    compilation and evaluation."""
    return 2.0 * settings.resolve(workload.spec).max_runtime + 120.0


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclasses.dataclass
class Ledger:
    """What this run wrote: record path -> SHA-256; and what it found and set aside."""

    written: dict[Path, str] = dataclasses.field(default_factory=dict)
    foreign: list[tuple[Path, str]] = dataclasses.field(default_factory=list)
    not_run: list[str] = dataclasses.field(default_factory=list)

    def set_aside(self, path: Path, reason: str) -> None:
        aside = path.with_name(path.name + ".foreign")
        path.replace(aside)
        self.foreign.append((aside, reason))

    def audit(self, results_dir: Path) -> list[dict]:
        """The records this run wrote, unchanged; every other record file is set aside."""
        records = []
        for path in record_paths([results_dir]):
            digest = self.written.get(path)
            if digest is None:
                self.set_aside(path, "not written by this run's trials")
            elif sha256_of(path) != digest:
                self.set_aside(path, "changed after its trial ended")
            else:
                records.append(read_record(path))
        return records


def fresh_directory(parent: str | Path) -> Path:
    """A new, empty directory under `parent` for this run's records."""
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    for attempt in range(1000):
        path = Path(parent) / f"run-{stamp}-{attempt}"
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"no fresh results directory under {parent}")


def run_trials(submission, workloads, *, ruleset, studies, trials, results_dir: Path,
               settings: ProtocolSettings, trial_timeout: float | None,
               total_timeout: float) -> Ledger:
    """Every trial of the study, one after the other, each in its own process."""
    if settings.budget_multiplier == 1.0:
        settings = dataclasses.replace(
            settings, budget_multiplier=tuning.DEFAULT_BUDGET_MULTIPLIER[ruleset])
    ledger = Ledger()
    deadline = time.monotonic() + total_timeout
    for planned in tuning.plan_study(submission, workloads, ruleset, studies, trials):
        trial_id = TrialId(ruleset, submission.name, planned.workload.name, planned.study,
                           planned.trial)
        path = trial_id.path(results_dir)
        name = f"{planned.workload.name} study {planned.study} trial {planned.trial}"
        if path.exists():
            ledger.set_aside(path, "was there before its trial ran")
        limit = min(trial_timeout or trial_time_limit(planned.workload, settings),
                    deadline - time.monotonic())
        if limit < MIN_TRIAL_SECONDS:
            ledger.not_run.append(f"{name}: the study's {total_timeout:.0f}s were spent")
            continue
        api.run_in_own_process(planned.workload, submission, hparams=planned.hparams,
                               seed=planned.seed, ruleset=ruleset, study=planned.study,
                               trial=planned.trial, results_dir=results_dir, settings=settings,
                               time_limit=limit)
        beside = [p for p in path.parent.glob("*.json*") if p != path]  # not .lock, .ckpt
        if beside:  # the harness writes one file there: others came from the trial's code
            for other in beside:
                ledger.set_aside(other, f"written beside {name}'s record during its trial")
            if path.exists():
                ledger.set_aside(path, "its trial also wrote other files beside it")
        elif path.exists():
            ledger.written[path] = sha256_of(path)
    return ledger


def _reference_entries(data: dict, measure: str) -> dict[str, dict[str, Entry]]:
    entries: dict[str, dict[str, Entry]] = {}
    for submission, row in data.get("studies", {}).items():
        for workload, cell in row.items():
            values = tuple(math.inf if v is None else float(v) for v in cell.get(measure, []))
            if values:
                hits = sum(math.isfinite(v) for v in values)
                entries.setdefault(submission, {})[workload] = Entry(values, len(values), hits)
    return entries


def untrusted(text: str, limit: int = 300) -> str:
    """Text the submission controls (its messages, its errors) as one inert markdown code span."""
    flat = " ".join(str(text).split()).replace("`", "'")
    return f"`{flat[:limit]}{'...' if len(flat) > limit else ''}`" if flat else ""


def _checks_markdown(results: list[CheckResult]) -> list[str]:
    lines = ["| check | result | detail |", "|---|---|---|"]
    for result in results:
        detail = untrusted(result.detail).replace("|", "\\|")
        lines.append(f"| {result.name} | {'pass' if result.ok else '**FAIL**'} | {detail} |")
    return lines


def _study_markdown(names, records, ruleset, studies) -> list[str]:
    lines = ["", f"### Study ({ruleset} tuning, {studies} stud{'y' if studies == 1 else 'ies'})",
             "", "| workload | trials | hit | best time | best steps |", "|---|---|---|---|---|"]
    for name in names:
        group = [r for r in records if r["workload"] == name]
        hits = [r for r in group if r["outcome"] == "hit"]
        best = min(hits, key=lambda r: r["time_to_target"]) if hits else None
        lines.append(f"| {name} | {len(group)} | {len(hits)} | "
                     f"{format_value(best['time_to_target'], 'time') if best else 'miss'} | "
                     f"{best['steps_to_target'] if best else '-'} |")
    return lines


def _refusals_markdown(ledger: Ledger, vouched: trust.Vouched) -> list[str]:
    lines = []
    if ledger.foreign or vouched.refused:
        lines += ["", "### Refused records", "",
                  "Not scored: records this run's trials did not write, or that it cannot vouch "
                  "for.", ""]
        lines += [f"- `{path.name}` ({path.parent.name}): {reason}"
                  for path, reason in ledger.foreign]
        lines += [f"- {refusal.label}: {untrusted('; '.join(refusal.reasons))}"
                  for refusal in vouched.refused]
    if ledger.not_run:
        lines += ["", "### Not run (time limit)", ""] + [f"- {line}" for line in ledger.not_run]
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
    trial_timeout: float | None = None,
    total_timeout: float = TOTAL_SECONDS,
) -> CiResult:
    """Check, study, audit, vouch, rank: the report of one contributed submission."""
    checks, submission = review_submission(path)
    lines = [f"## bench ci: `{Path(path).name}`", "", "### Checks", ""] + _checks_markdown(checks)
    if submission is None or not all(c.ok for c in checks):
        lines += ["", "The submission is invalid; fix the failed check and push again."]
        return CiResult(False, "\n".join(lines) + "\n")

    names = workloads or [w.name for w in registry.all_workloads().values() if w.spec.tier == "cpu"]
    run_dir = fresh_directory(results_dir)
    ledger = run_trials(submission, [registry.get_workload(n) for n in names], ruleset=ruleset,
                        studies=studies, trials=trials, results_dir=run_dir, settings=settings,
                        trial_timeout=trial_timeout, total_timeout=total_timeout)
    vouched = trust.vouch(ledger.audit(run_dir))
    records = [r for r in vouched.accepted if r["workload"] in names]
    lines += _study_markdown(names, records, ruleset, studies)
    lines += _refusals_markdown(ledger, vouched)
    lines += ["", f"Records: `{run_dir}`."]
    valid = not ledger.foreign and not vouched.refused
    if not valid:
        lines += ["", "The submission is invalid: its trials left records the harness did not "
                      "write, or records it cannot vouch for."]
    return _ranked(lines, valid, submission.name, records, names, reference_dir, ruleset)


def leaderboard_file(reference_dir: str | Path, ruleset: str) -> Path:
    return Path(reference_dir) / ruleset / "leaderboard.json"


def leaderboard_rules(reference: dict) -> str:
    """The rules version a leaderboard.json was scored under (cpu-v1 before the field)."""
    return reference.get("rules") or RULES_BEFORE_THE_FIELD


def reference_rules(reference_dir: str | Path, ruleset: str) -> str | None:
    """The rules version the reference leaderboard of `ruleset` was scored under (None when there
    is none): the rules a contribution's trials run under, so that the two compare."""
    reference_file = leaderboard_file(reference_dir, ruleset)
    if not reference_file.exists():
        return None
    return leaderboard_rules(json.loads(reference_file.read_text()))


def _ranked(lines, valid, name, records, names, reference_dir, ruleset) -> CiResult:
    reference_file = leaderboard_file(reference_dir, ruleset)
    if not reference_file.exists():
        lines += ["", f"No reference leaderboard at `{reference_file}`: nothing to rank against."]
        return CiResult(valid, "\n".join(lines) + "\n")
    reference = json.loads(reference_file.read_text())
    theirs = leaderboard_rules(reference)
    ours = {scoring.record_rules(record) for record in records}
    if ours and ours != {theirs}:
        lines += ["", f"The reference leaderboard `{reference_file}` was scored under rules "
                      f"{theirs}, these trials ran under {', '.join(sorted(ours))}: times under "
                      "other targets and budgets do not compare, so there is no ranking. "
                      "Regenerate the reference (scripts/reference/run.py)."]
        return CiResult(valid, "\n".join(lines) + "\n")
    changed = changed_definitions(reference.get("definitions"),
                                  reporting.workload_definitions(records))
    if changed:
        lines += ["", f"The reference leaderboard `{reference_file}` was measured on other "
                      f"definitions of {', '.join(changed)} than these trials (their model, data, "
                      "loss or spec changed since), so there is no ranking. Regenerate the "
                      "reference (scripts/reference/run.py)."]
        return CiResult(valid, "\n".join(lines) + "\n")
    if "definitions" not in reference:
        lines += ["", f"The reference leaderboard `{reference_file}` does not say which workload "
                      "definitions it was measured on (scored before bench kept them): the "
                      "ranking assumes they are these trials'."]
    here = environment.hardware()["fingerprint"]  # this machine's, not what records claim
    measure = compared_by(theirs, here, reference.get("hardware", []))
    entries = _reference_entries(reference, measure)
    entries.pop(name, None)
    entries[name] = scoring.study_table(records, measure).get(name, {})
    variants = reference.get("variants", {})
    bases = sorted(set(reference.get("workloads", [])) | {n for n in names if n not in variants})
    medians = {s: {w: e.median for w, e in row.items()} for s, row in entries.items()}
    ratios, _, scores = scoring.scores_from_times(scoring.base_times(medians, bases, variants))

    lines += ["", f"### Against the reference leaderboard ({measure} to target)", ""]
    if measure == "steps":
        lines += ["This machine's hardware fingerprint differs from the reference's, so the "
                  "ranking compares steps to target, not seconds.", ""]
    lines += ranking_lines(scores, medians, ratios, bases, measure, name)
    return CiResult(valid, "\n".join(lines) + "\n", scores, measure)


def changed_definitions(theirs: dict | None, ours: dict) -> list[str]:
    """The workloads whose definition hashes (leaderboard.json's "definitions", as
    `reporting.workload_definitions` gives them) differ between a reference leaderboard and
    this run; none when the reference does not say."""
    if theirs is None:
        return []
    return sorted(w for w in ours if w in theirs and set(theirs[w]) != set(ours[w]))


def compared_by(rules_version: str, here: str, reference_hardware) -> str:
    """"time" when times compare between this machine (fingerprint `here`) and the reference
    board's: under a clock in reference seconds (cpu-v3, `bench.speed`) on any machine, under a
    clock of machine seconds only on a machine of the same fingerprint; "steps" otherwise."""
    if rules.load(rules_version).timing.clock == "reference" or here in set(reference_hardware):
        return "time"
    return "steps"


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
