"""Which default points reach a workload's target, under the target rule and softer ones (issue 21).

A self-tuning leaderboard ranks by time to target, so it can only rank the submissions whose
default point reaches the target at all: where most miss, a score rests on the few workloads
they hit. This module sets, per workload, the best validation metric each default point reached
(from the trial records of a self-tuning study) beside the target that `bench set-targets` chose
and beside targets other rules would have chosen from the same procedure's output
(workloads/targets/<workload>.json), and counts the default points that reach each.

The rules compared, all read off one target-setting report:

- `median of chosen seeds`: the rule in use (AlgoPerf's): the median over the reruns' seeds of
  the best metric of the best tuned configuration;
- `worst chosen seed`: the lowest of those seeds' best metrics (every rerun reaches it);
- `2nd configuration`, `3rd configuration`: the best metric of the second- and third-best tuned
  configurations (one tuning seed each), i.e. what a less lucky search would have set.

A trial that met the target in use stopped there, so its best metric is where it stopped: for a
rule whose target is harder than the one in use, the count of default points reaching it is a
lower bound. Pure functions over plain data; the reading of files has its own section.
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

from bench import targets
from bench.trial.record import RecordError, read_as_written

RULES = ("median of chosen seeds", "worst chosen seed", "2nd configuration", "3rd configuration")


def candidate_targets(report: dict) -> dict[str, float]:
    """The target each rule in `RULES` sets from one target-setting report (plain data)."""
    higher = report["higher_is_better"]
    seeds = [run["best_metric"] for run in report["seeds"]]
    tried = sorted((c["best_metric"] for c in report["configurations"]
                    if c["best_metric"] is not None), reverse=higher)
    return {
        RULES[0]: report["validation_target"],
        RULES[1]: min(seeds) if higher else max(seeds),
        RULES[2]: tried[1] if len(tried) > 1 else float("nan"),
        RULES[3]: tried[2] if len(tried) > 2 else float("nan"),
    }


@dataclasses.dataclass(frozen=True)
class Reach:
    """One workload: each default point's best metric, and who reaches each rule's target."""

    workload: str
    higher_is_better: bool
    best: dict[str, float]  # submission -> best validation metric of its default point
    targets: dict[str, float]  # rule -> target
    reaching: dict[str, list[str]]  # rule -> submissions whose best meets that target


def reach(report: dict, best: dict[str, float]) -> Reach:
    """Who among `best`'s default points meets each rule's target of `report`'s workload."""
    higher = report["higher_is_better"]
    rule_targets = candidate_targets(report)
    reaching = {rule: sorted(name for name, value in best.items()
                             if targets.meets(value, target, higher))
                for rule, target in rule_targets.items()}
    return Reach(report["workload"], higher, dict(best), rule_targets, reaching)


def seed_spread(report: dict) -> float:
    """The standard deviation of the target-setting reruns' best metrics: how far apart runs of
    one configuration that differ only in their seed end."""
    return statistics.stdev(run["best_metric"] for run in report["seeds"])


@dataclasses.dataclass(frozen=True)
class Cell:
    """One default point on one workload in one study, against the target in use.

    A hit says how much of the trial's budget it took (a hit at 0.3 would survive a slower
    seed, one at 0.95 might not). A miss says by how much its best metric fell short, in units
    of `seed_spread`: a miss by 0.5 of them is a toss-up that another seed could turn into a
    hit, one by 8 is not. (A hit stopped at the target, so how far beyond it the default point
    would have gone is not in the record.)"""

    hit: bool
    budget_fraction: float | None  # hits: time to target / max_runtime
    shortfall: float | None  # misses: (target - best) / seed spread, sign-flipped for losses

    @property
    def toss_up(self) -> bool:
        """A hit late in the budget or a near miss: another seed could well turn it over."""
        if self.hit:
            return self.budget_fraction is not None and self.budget_fraction > LATE_HIT
        return self.shortfall is not None and self.shortfall < NEAR_MISS


# A cell is a toss-up (`Cell.toss_up`) when a hit came after this share of its budget...
LATE_HIT = 0.8
# ...or a miss fell short by fewer than this many seed sds.
NEAR_MISS = 2.0


def cell(record: dict, report: dict) -> Cell:
    """`record`'s default point against `report`'s target (plain data in, plain data out)."""
    if record["outcome"] == "hit":
        budget = (record.get("protocol") or {}).get("max_runtime")
        return Cell(True, record["time_to_target"] / budget if budget else None, None)
    curve = targets.metric_curve(record, report["target_metric"])
    best = targets.best_metric(curve, report["higher_is_better"])
    if best is None:
        return Cell(False, None, float("inf"))
    return Cell(False, None, -beyond_target(best, report))


def beyond_target(value: float, report: dict) -> float:
    """How far a validation metric `value` lies beyond `report`'s target, in `seed_spread`s:
    positive when it meets the target, negative when it falls short (for a loss, lower values
    are beyond)."""
    gap = value - report["validation_target"]
    return (gap if report["higher_is_better"] else -gap) / seed_spread(report)


def default_point_cells(records: dict[str, list[dict]], report: dict) -> dict[str, list[Cell]]:
    """submission -> its `Cell` in each self-tuning study of `report`'s workload, from
    `records` (`default_point_records` of that workload)."""
    return {name: [cell(record, report) for record in studies]
            for name, studies in records.items()}


def default_points_best(records: dict[str, list[dict]], report: dict) -> dict[str, float]:
    """submission -> the median over its self-tuning studies of its default point's best
    validation metric, from `records` (`default_point_records` of `report`'s workload)."""
    found: dict[str, list[float]] = {}
    for name, studies in records.items():
        for record in studies:
            curve = targets.metric_curve(record, report["target_metric"])
            value = targets.best_metric(curve, report["higher_is_better"])
            if value is not None:
                found.setdefault(name, []).append(value)
    return {name: statistics.median(values) for name, values in found.items()}


# ------------------------------------------------------------------------------ reading files


def default_point_records(results_dir: Path, workload: str) -> dict[str, list[dict]]:
    """submission -> the record of its default point in each self-tuning study, from
    `results_dir`/self/<submission>/<workload>/study_*/trial_0.json (in study order)."""
    paths = sorted(Path(results_dir).glob(f"self/*/{workload}/study_*/trial_0.json"))
    read, problems = read_as_written(paths)
    if problems:
        raise RecordError("; ".join(f"{path}: {problem}" for path, problem in problems))
    records: dict[str, list[dict]] = {}
    for path, record in read:
        records.setdefault(path.parents[2].name, []).append(record)
    return records


def default_point_curves(results_dir: Path, workload: str, metric: str) -> dict[str, list]:
    """submission -> the validation `metric` curve of its default point in each self-tuning
    study (`default_point_records`)."""
    return {name: [targets.metric_curve(record, metric) for record in studies]
            for name, studies in default_point_records(results_dir, workload).items()}


# ------------------------------------------------------------- scoring under another target


def first_meeting(record: dict, metric: str, target: float, higher_is_better: bool):
    """The first evaluation of `record` whose validation `metric` meets `target` within the
    trial's budget (the protocol's `max_runtime`; with `eval_past_budget`, the first evaluation
    past it too, as the run itself allows), or None."""
    protocol = record.get("protocol") or {}
    budget = protocol.get("max_runtime", float("inf"))
    past_allowed = bool(protocol.get("eval_past_budget", False))
    for row in record.get("evals", ()):
        if row["submission_time"] > budget:
            if not past_allowed:
                return None
            past_allowed = False  # this one evaluation past the budget still counts
        value = row.get(f"validation/{metric}")
        if value is not None and targets.meets(value, target, higher_is_better):
            return row
    return None


def retargeted(record: dict, metric: str, target: float, higher_is_better: bool) -> dict:
    """A copy of `record` with its outcome and time/steps to target worked out again from its
    evaluations for `target` (for a target at least as easy as the one it ran against: a
    trial that met its own target stopped there, and what a harder one needs is not in it)."""
    copy = dict(record)
    row = first_meeting(record, metric, target, higher_is_better)
    if row is None:
        copy.update(outcome="budget" if record["outcome"] in ("hit", "budget") else
                    record["outcome"], time_to_target=None, steps_to_target=None)
    else:
        copy.update(outcome="hit", time_to_target=row["submission_time"],
                    steps_to_target=row["step"])
    copy.pop("evals_to_target", None)
    return copy
