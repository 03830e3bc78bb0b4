"""Scores from trial records: study times, performance profiles, benchmark scores.

The method is AlgoPerf's (Dahl et al. 2023, sec. 4.5; its scoring code, scoring/
performance_profile.py in mlcommons/algorithmic-efficiency), under the rules version the records
were run with (`bench.rules`; every record names its version, and versions are never mixed):

1. Per trial, time (or steps) to the target; infinite when it was missed.
2. Per study, one trial: by the rules' `trial_choice` the one that reached the target at the
   fewest evaluations (AlgoPerf), scored by its time there, or the fastest one. Per workload, the
   median over studies (a study where no trial hit counts as infinite, so the median itself can
   be infinite).
3. Held-out variants (the rules' sampled variants, or every variant in the records) do not enter
   the profile; a submission that misses a variant counts as missing its base. Under the
   `within_tau_max` variant rule a variant is also missed when its time is over tau_max times the
   fastest time on it among the submissions that reached its base.
4. tau_max: under the `before_variants` cut (AlgoPerf) every time over tau_max times the fastest
   time on its workload is infinite before step 3 removes bases; under `on_ratios` ratios above
   tau_max are infinite after it.
5. Per base workload, the ratio r = t_s / min_s' t_s' to the best submission. The performance
   profile rho_s(tau) = fraction of base workloads with r <= tau (the rules' base workloads when
   they list them, a workload nobody ran counting as missed), on `num_taus` linearly spaced tau
   from 1 to tau_max, and the benchmark score
   B_s = 1 / (tau_max - 1) * integral_1^tau_max rho_s(tau) dtau (trapezoid rule), in [0, 1].

Confidence intervals bootstrap the studies: for every (submission, workload) the studies are
resampled with replacement, the medians, ratios and scores recomputed, and the percentiles of
the scores reported.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Iterable, Mapping

import numpy as np

from bench import rules as rules_module
from bench.rules import Rules, ScoringRules
from bench.trial.record import DEFAULT_RULES as RULES_BEFORE_THE_FIELD

TAU_MAX = 4.0
NUM_TAUS = 100
MEASURES = ("time", "steps")
# The scoring bench used before rules versions (cpu-v1's), for callers without records' rules.
LEGACY_SCORING = ScoringRules(tau_max=TAU_MAX, num_taus=NUM_TAUS, trial_choice="fastest",
                              tau_max_cut="on_ratios", variant_rule="hit", held_out_variants=None)


class ScoringError(ValueError):
    """Records that cannot be scored together; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One submission on one workload: the study results behind its median."""

    study_values: tuple[float, ...]  # the chosen trial's value per study, inf when none hit
    trials: int
    hits: int  # trials that reached the target

    @property
    def median(self) -> float:
        return float(np.median(self.study_values)) if self.study_values else math.inf


@dataclasses.dataclass
class Leaderboard:
    """Everything a report needs, as plain data."""

    ruleset: str
    measure: str
    submissions: list[str]
    workloads: list[str]  # base workloads, in the profile
    variants: dict[str, str]  # held-out variant -> base workload
    entries: dict[str, dict[str, Entry]]  # submission -> workload (bases and variants) -> entry
    times: dict[str, dict[str, float]]  # submission -> base workload -> time used for ratios
    ratios: dict[str, dict[str, float]]
    taus: np.ndarray
    profiles: dict[str, np.ndarray]
    scores: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    warnings: list[str]
    hardware: list[str]
    rules: str  # the rules version the records ran under
    # submission -> workload -> why its time is infinite ("missed", "over 4x", "variant missed",
    # "variant over 4x", "base missed"); workloads with a finite time are absent
    reasons: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)


def trial_value(record: Mapping, measure: str = "time") -> float:
    """Time (seconds of submission time) or steps to the target; inf when it was not reached."""
    if record["outcome"] != "hit":
        return math.inf
    key = "time_to_target" if measure == "time" else "steps_to_target"
    return float(record[key])


def evaluations_to_target(record: Mapping) -> float:
    """How many evaluations the trial ran up to the one that met the target (inf: missed)."""
    if record["outcome"] != "hit":
        return math.inf
    if record.get("evals_to_target") is not None:
        return record["evals_to_target"]
    return sum(1 for row in record.get("evals", ()) if row["step"] <= record["steps_to_target"])


def study_value(trials: list[Mapping], measure: str, trial_choice: str) -> float:
    """The value of one study: its fastest trial, or the one with the fewest evaluations."""
    if trial_choice == "fastest":
        return min(trial_value(r, measure) for r in trials)
    keyed = [(evaluations_to_target(r), trial_value(r, measure)) for r in trials]
    return min(keyed)[1]


def study_table(records: Iterable[Mapping], measure: str = "time",
                trial_choice: str = "fastest") -> dict:
    """submission -> workload -> Entry, from the records of one ruleset."""
    by_study = collections.defaultdict(lambda: collections.defaultdict(list))
    for record in records:
        key = (record["submission"], record["workload"])
        by_study[key][record["study"]].append(record)
    table: dict[str, dict[str, Entry]] = collections.defaultdict(dict)
    for (submission, workload), studies in by_study.items():
        values = tuple(
            study_value(studies[study], measure, trial_choice) for study in sorted(studies)
        )
        trials = sum(len(trials) for trials in studies.values())
        hits = sum(r["outcome"] == "hit" for trials in studies.values() for r in trials)
        table[submission][workload] = Entry(values, trials, hits)
    return dict(table)


def _fastest(times: Mapping[str, Mapping[str, float]], workload: str) -> float:
    return min((row[workload] for row in times.values()), default=math.inf)


def apply_rules(
    medians: Mapping[str, Mapping[str, float]],
    bases: list[str],
    variants: Mapping[str, str],
    rules: ScoringRules,
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, str]]]:
    """Workload times after the variant rule and the tau_max cut, and why each infinite one is.

    Returns (times over bases and variants, reasons). The steps run in AlgoPerf's order
    (scoring/performance_profile.py, compute_performance_profiles): a variant of a missed base is
    missed (within_tau_max rule only); the tau_max cut (before_variants only); a missed variant
    makes its base missed.
    """
    cut = f"over {rules.tau_max:g}x"
    times = {s: {w: row.get(w, math.inf) for w in list(bases) + list(variants)}
             for s, row in medians.items()}
    reasons = {s: {w: "missed" for w, t in row.items() if not math.isfinite(t)}
               for s, row in times.items()}
    strict = rules.variant_rule == "within_tau_max"
    if strict:
        for row, why in zip(times.values(), reasons.values()):
            for variant, base in variants.items():
                if not math.isfinite(row[base]) and math.isfinite(row[variant]):
                    row[variant], why[variant] = math.inf, "base missed"
    if rules.tau_max_cut == "before_variants":
        cut_workloads = list(bases) + (list(variants) if strict else [])
        fastest = {w: _fastest(times, w) for w in cut_workloads}
        for row, why in zip(times.values(), reasons.values()):
            for w in cut_workloads:
                if math.isfinite(row[w]) and row[w] > rules.tau_max * fastest[w]:
                    row[w], why[w] = math.inf, cut
    for row, why in zip(times.values(), reasons.values()):
        for variant, base in variants.items():
            if not math.isfinite(row[variant]) and math.isfinite(row[base]):
                row[base] = math.inf
                why[base] = "variant over " + cut[5:] if why[variant] == cut else "variant missed"
    return times, reasons


def performance_ratios(
    times: Mapping[str, Mapping[str, float]], tau_max: float = TAU_MAX, cut: bool = True
) -> dict[str, dict[str, float]]:
    """t_s / best t per workload; inf when missed, when nobody hit, or (cut) above tau_max."""
    workloads = sorted({w for row in times.values() for w in row})
    best = {w: min(row.get(w, math.inf) for row in times.values()) for w in workloads}
    ratios = {}
    for submission, row in times.items():
        ratios[submission] = {}
        for w in workloads:
            t = row.get(w, math.inf)
            ratio = t / best[w] if math.isfinite(t) and best[w] > 0 else math.inf
            if t == best[w] and math.isfinite(t):
                ratio = 1.0  # also when the best time is 0 (target met at initialisation)
            ratios[submission][w] = ratio if ratio <= tau_max or not cut else math.inf
    return ratios


def taus(tau_max: float = TAU_MAX, num: int = NUM_TAUS) -> np.ndarray:
    return np.linspace(1.0, tau_max, num)


def performance_profile(ratios: Mapping[str, float], tau_grid: np.ndarray) -> np.ndarray:
    """rho(tau): the fraction of workloads whose ratio is at most tau."""
    values = np.array(list(ratios.values()), dtype=np.float64)
    if values.size == 0:
        return np.zeros_like(tau_grid)
    return (values[None, :] <= tau_grid[:, None]).mean(axis=1)


def benchmark_score(profile: np.ndarray, tau_grid: np.ndarray) -> float:
    """Normalised area under the profile between 1 and tau_max (trapezoid rule)."""
    area = np.sum((profile[1:] + profile[:-1]) / 2.0 * np.diff(tau_grid))
    return float(area / (tau_grid[-1] - tau_grid[0]))


def scores_from_times(times, tau_max: float = TAU_MAX, num_taus: int = NUM_TAUS,
                      cut: bool = True) -> tuple[dict, dict, dict]:
    """(ratios, profiles, scores) for per-submission base-workload times."""
    grid = taus(tau_max, num_taus)
    ratios = performance_ratios(times, tau_max, cut)
    profiles = {s: performance_profile(r, grid) for s, r in ratios.items()}
    scores = {s: benchmark_score(p, grid) for s, p in profiles.items()}
    return ratios, profiles, scores


def score_medians(medians, bases: list[str], variants: Mapping[str, str], rules: ScoringRules):
    """(base times, reasons, ratios, profiles, scores) from per-workload medians under `rules`."""
    times, reasons = apply_rules(medians, bases, variants, rules)
    base_rows = {s: {b: row[b] for b in bases} for s, row in times.items()}
    ratios, profiles, scores = scores_from_times(
        base_rows, rules.tau_max, rules.num_taus, cut=rules.tau_max_cut == "on_ratios"
    )
    if rules.tau_max_cut == "on_ratios":
        for s, row in ratios.items():
            for b, ratio in row.items():
                if not math.isfinite(ratio) and math.isfinite(base_rows[s][b]):
                    reasons[s][b] = f"over {rules.tau_max:g}x"
    return base_rows, reasons, ratios, profiles, scores


def base_times(
    medians: Mapping[str, Mapping[str, float]], bases: list[str], variants: Mapping[str, str]
) -> dict[str, dict[str, float]]:
    """Per submission, the time on each base workload, infinite if a variant of it was missed."""
    times, _ = apply_rules(medians, bases, variants, LEGACY_SCORING)
    return {s: {b: row[b] for b in bases} for s, row in times.items()}


def bootstrap_scores(
    entries: Mapping[str, Mapping[str, Entry]],
    bases: list[str],
    variants: Mapping[str, str],
    *,
    samples: int = 1000,
    seed: int = 0,
    rules: ScoringRules = LEGACY_SCORING,
) -> list[dict[str, float]]:
    """The scores of `samples` leaderboards, each with every cell's studies drawn with
    replacement from its own (a cell: one submission on one workload)."""
    rng = np.random.default_rng(seed)
    resampled = {}  # (submission, workload) -> the median of each bootstrap sample
    for submission in sorted(entries):
        for workload in sorted(entries[submission]):
            values = np.asarray(entries[submission][workload].study_values)
            picks = values[rng.integers(0, len(values), (samples, len(values)))]
            resampled[submission, workload] = np.median(picks, axis=1)
    boards = []
    for index in range(samples):
        medians = collections.defaultdict(dict)
        for (submission, workload), values in resampled.items():
            medians[submission][workload] = float(values[index])
        boards.append(score_medians(medians, bases, variants, rules)[-1])
    return boards


def bootstrap_intervals(
    entries: Mapping[str, Mapping[str, Entry]],
    bases: list[str],
    variants: Mapping[str, str],
    *,
    samples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    rules: ScoringRules = LEGACY_SCORING,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of each submission's score under resampled studies. None ({})
    when no entry has two studies: resampling one study gives the board back every time, an
    interval of width 0 that would claim a certainty one study cannot give."""
    if all(len(entry.study_values) < 2 for row in entries.values() for entry in row.values()):
        return {}
    drawn = collections.defaultdict(list)
    for scores in bootstrap_scores(entries, bases, variants, samples=samples, seed=seed,
                                   rules=rules):
        for submission, score in scores.items():
            drawn[submission].append(score)
    tail = (1.0 - level) / 2.0 * 100
    return {
        s: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail)))
        for s, v in drawn.items()
    }


def _check_hardware(records: list[Mapping], measure: str, mixed_hardware: bool) -> list[str]:
    prints = sorted({r.get("hardware", {}).get("fingerprint", "unknown") for r in records})
    if len(prints) > 1 and measure == "time":
        if not mixed_hardware:
            raise ScoringError(
                f"records come from {len(prints)} different machines (hardware fingerprints "
                f"{', '.join(prints)}); times taken on different hardware are not comparable. "
                "Score them by steps with --mixed-hardware --measure steps, or score each "
                "machine's records separately"
            )
        raise ScoringError("--mixed-hardware compares steps, not seconds: add --measure steps")
    return prints


def _source_warnings(records: list[Mapping]) -> list[str]:
    """Submissions whose records name several source hashes (imported logs name none)."""
    sources = collections.defaultdict(set)
    for record in records:
        if record.get("submission_sha256") is not None:
            sources[record["submission"]].add(record["submission_sha256"])
    return [
        f"records of submission {name} come from {len(hashes)} different source files "
        "(the submission changed between runs)"
        for name, hashes in sorted(sources.items())
        if len(hashes) > 1
    ]


def record_rules(record: Mapping) -> str:
    """The rules version a record was run or imported under (also kept in its protocol)."""
    protocol = record.get("protocol") or {}
    return record.get("rules") or protocol.get("rules") or RULES_BEFORE_THE_FIELD


def _choose(found: list[str], chosen: str | None, what: str, option: str) -> str:
    if chosen is None:
        if len(found) > 1:
            raise ScoringError(
                f"records hold several {what} ({', '.join(found)}); choose one with {option}"
            )
        return found[0]
    if chosen not in found:
        raise ScoringError(f"no records for {what[:-1]} {chosen!r} (found: {', '.join(found)})")
    return chosen


def scored_workloads(records: list[Mapping], rules: Rules) -> tuple[list[str], dict[str, str]]:
    """(base workloads, held-out variant -> base) scored under `rules`: those its table lists
    (AlgoPerf's), or those found in the records when the rules take any workload (the cpu tier's)."""
    if rules.workloads and not rules.unlisted_as_defined:
        bases = rules.base_workloads
        variants = {v: rules.workloads[v].variant_of for v in rules.scoring.held_out_variants or ()}
        return bases, variants
    specs = {r["workload"]: r.get("workload_spec", {}) for r in records}
    variants = {w: s["variant_of"] for w, s in specs.items() if s.get("variant_of")}
    if rules.scoring.held_out_variants is not None:
        variants = {v: b for v, b in variants.items() if v in rules.scoring.held_out_variants}
    bases = sorted({w for w, s in specs.items() if not s.get("variant_of")})
    return bases, variants


def score(
    records: Iterable[Mapping],
    *,
    ruleset: str | None = None,
    rules: str | None = None,
    measure: str = "time",
    mixed_hardware: bool = False,
    bootstrap_samples: int = 1000,
    seed: int = 0,
) -> Leaderboard:
    """The leaderboard of one ruleset from trial records (from any number of runs or machines).

    The records must share one rules version (or `rules` picks one); its scoring rules apply.
    """
    if measure not in MEASURES:
        raise ScoringError(f"measure must be one of {MEASURES}, not {measure!r}")
    records = list(records)
    if not records:
        raise ScoringError("no trial records to score")
    version = _choose(sorted({record_rules(r) for r in records}), rules, "rules versions",
                      "--rules")
    records = [r for r in records if record_rules(r) == version]
    ruleset = _choose(sorted({r["ruleset"] for r in records}), ruleset, "rulesets", "--ruleset")
    records = [r for r in records if r["ruleset"] == ruleset]
    hardware = _check_hardware(records, measure, mixed_hardware)
    rules_data = rules_module.load(version)
    scoring_rules = rules_data.scoring

    bases, variants = scored_workloads(records, rules_data)
    scored = set(bases) | set(variants)
    unscored = sorted({r["workload"] for r in records} - scored)
    records = [r for r in records if r["workload"] in scored]
    entries = study_table(records, measure, scoring_rules.trial_choice)
    warnings = _source_warnings(records)
    if unscored:
        warnings.append(f"records on {', '.join(unscored)} are not scored under {version}")
    for submission in sorted(entries):
        missing = [w for w in bases + sorted(variants) if w not in entries[submission]]
        if missing:
            warnings.append(
                f"submission {submission} has no records on {', '.join(missing)}: counted as missed"
            )
    medians = {s: {w: e.median for w, e in row.items()} for s, row in entries.items()}
    times, reasons, ratios, profiles, scores = score_medians(medians, bases, variants, scoring_rules)
    intervals = bootstrap_intervals(
        entries, bases, variants, samples=bootstrap_samples, seed=seed, rules=scoring_rules
    ) if bootstrap_samples else {}
    return Leaderboard(
        ruleset=ruleset,
        measure=measure,
        submissions=sorted(entries, key=lambda s: (-scores[s], s)),
        workloads=bases,
        variants=variants,
        entries=entries,
        times=times,
        ratios=ratios,
        taus=taus(scoring_rules.tau_max, scoring_rules.num_taus),
        profiles=profiles,
        scores=scores,
        intervals=intervals,
        warnings=warnings,
        hardware=hardware,
        rules=version,
        reasons=reasons,
    )
