"""Two results sets side by side: two submissions, or one submission on two machines or commits.

Each set is scored per workload the way `bench.scoring` does (median over studies of each study's
fastest trial to target). Rows pair the same workload (and ruleset) of the two sets; when both
sets hold a single submission they are paired whatever their names, otherwise submissions are
paired by name. Every row says what changed from A to B.

`paired_trials` instead pairs the very same trials (same place, same seed) run twice, on two
machines, with two settings (`bench study --jobs`) or at two commits, and says how B's clock
counted each against A's: submission seconds a step up to where the trial ended (its target,
or its last step when it missed), B's over A's. Training is the same computation in both, so
on a clock that only counts the submission's own work the ratio is 1 within the clock's noise.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Mapping

from bench.scoring import Entry, study_table

SAME_WITHIN = 0.05  # relative change below which two times count as the same


@dataclasses.dataclass(frozen=True)
class ComparedRow:
    ruleset: str
    workload: str
    submission_a: str | None
    submission_b: str | None
    a: Entry | None
    b: Entry | None

    @property
    def ratio(self) -> float:
        """B's median over A's (below 1: B is faster)."""
        if self.a is None or self.b is None:
            return math.nan
        ta, tb = self.a.median, self.b.median
        if math.isfinite(ta) and math.isfinite(tb) and ta > 0:
            return tb / ta
        return math.nan

    @property
    def change(self) -> str:
        if self.a is None:
            return "only in B"
        if self.b is None:
            return "only in A"
        hit_a, hit_b = math.isfinite(self.a.median), math.isfinite(self.b.median)
        if hit_a and not hit_b:
            return "now misses"
        if hit_b and not hit_a:
            return "now hits"
        if not hit_a:
            return "both miss"
        if self.a.median == 0 or abs(self.ratio - 1) < SAME_WITHIN:
            return "same"
        return "faster" if self.ratio < 1 else "slower"


def _tables(records: Iterable[Mapping], measure: str) -> dict[str, dict]:
    by_ruleset: dict[str, list] = {}
    for record in records:
        by_ruleset.setdefault(record["ruleset"], []).append(record)
    return {ruleset: study_table(group, measure) for ruleset, group in by_ruleset.items()}


def compare(records_a: Iterable[Mapping], records_b: Iterable[Mapping], measure: str = "time"):
    """Rows pairing the two sets per ruleset and workload (see the module docstring)."""
    tables_a, tables_b = _tables(records_a, measure), _tables(records_b, measure)
    rows = []
    for ruleset in sorted(set(tables_a) | set(tables_b)):
        table_a, table_b = tables_a.get(ruleset, {}), tables_b.get(ruleset, {})
        if len(table_a) <= 1 and len(table_b) <= 1:
            pairs = [(next(iter(table_a), None), next(iter(table_b), None))]
        else:
            pairs = [(s if s in table_a else None, s if s in table_b else None)
                     for s in sorted(set(table_a) | set(table_b))]
        for name_a, name_b in pairs:
            row_a = table_a.get(name_a, {}) if name_a else {}
            row_b = table_b.get(name_b, {}) if name_b else {}
            for workload in sorted(set(row_a) | set(row_b)):
                rows.append(ComparedRow(
                    ruleset, workload, name_a, name_b, row_a.get(workload), row_b.get(workload)
                ))
    return rows


@dataclasses.dataclass(frozen=True)
class PairedTrial:
    """One trial (same place, same seed) recorded in A and in B."""

    ruleset: str
    submission: str
    workload: str
    study: int
    trial: int
    outcome_a: str
    outcome_b: str
    ratio: float  # B's submission seconds a step over A's; nan when either did not train


def seconds_per_step(record: Mapping) -> float:
    """Submission seconds a step up to where the trial ended: its target when it hit, its last
    step when the budget ran out; nan for any other outcome."""
    if record["outcome"] == "hit" and record.get("steps_to_target"):
        return record["time_to_target"] / record["steps_to_target"]
    if record["outcome"] == "budget" and record.get("steps"):
        return record["submission_time"] / record["steps"]
    return math.nan


def paired_trials(records_a: Iterable[Mapping], records_b: Iterable[Mapping]) -> list[PairedTrial]:
    """The trials recorded in both sets with the same seed, in A's order."""

    def key(record):
        return (record["ruleset"], record["submission"], record["workload"], record["study"],
                record["trial"], record["seed"])

    in_b = {key(record): record for record in records_b}
    pairs = []
    for a in records_a:
        b = in_b.get(key(a))
        if b is not None:
            per_step_a, per_step_b = seconds_per_step(a), seconds_per_step(b)
            ratio = per_step_b / per_step_a if per_step_a > 0 else math.nan
            pairs.append(PairedTrial(*key(a)[:5], a["outcome"], b["outcome"], ratio))
    return pairs


def ratio_summary(ratios: Iterable[float]) -> dict:
    """How many finite ratios, their median and extremes (None when there are none)."""
    finite = sorted(r for r in ratios if math.isfinite(r))
    if not finite:
        return {"n": 0, "median": None, "low": None, "high": None}
    return {"n": len(finite), "median": statistics.median(finite), "low": finite[0],
            "high": finite[-1]}


def summarize_pairs(pairs: Iterable[PairedTrial]) -> dict[str, dict]:
    """`ratio_summary` of all pairs, of those both hit, and of those both missed."""
    pairs = list(pairs)
    groups = {"all": pairs,
              "hits": [p for p in pairs if p.outcome_a == p.outcome_b == "hit"],
              "misses": [p for p in pairs if p.outcome_a == p.outcome_b == "budget"]}
    return {name: ratio_summary(p.ratio for p in group) for name, group in groups.items()}
