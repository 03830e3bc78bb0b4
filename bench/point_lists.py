"""Ordered lists of hyperparameter points for external tuning, derived from a search on workloads.

A search space may be a list of points instead of ranges (`bench.search_space.PointList`): a
study of n trials runs the list's first n points. Metz et al. (2020, "Using a thousand
optimization tasks to learn hyperparameter search strategies", arXiv 2002.11887) proposed such
ordered lists, derived once from a broad search over many workloads; Medapati et al. (2025,
"Training neural networks faster with minimal tuning using pre-computed lists of hyperparameters
for NAdamW", arXiv 2503.03986) derived NAdamW lists on AlgoPerf's base workloads and tested them
on its held-out variants. AlgoPerf's externally tuned NadamW baseline uses one.

Here a list is derived from a table of costs, one per (point, workload):

    cost(p, w) = 0                             if p's best validation metric meets w's target
               = min(FAR, shortfall(p, w))     otherwise (FAR if p has no finite metric)

where shortfall is how far the best metric falls short of the target, in standard deviations of
the target-setting reruns' best metrics (`bench.target_reach.beyond_target`: how far apart runs
of one configuration end when only the seed differs). FAR caps a hopeless point, so one workload
where a point diverges does not outweigh all the others. A list's cost on a workload is the least
cost of its points (a study keeps its best trial), and the list is built greedily:

    L_1 = argmin_p  sum_w cost(p, w)
    L_k = argmin_p  sum_w min(cost(p, w), min_{j<k} cost(L_j, w))

ties going to the point with the least summed cost of its own, then to the earlier point of the
search. Each step adds the point that covers the most of what the list still misses, so the
first n points are a good list for a study of n trials; once no point lowers the list's cost,
the next ones are the best points on their own: backups for a point whose one tuning seed was
lucky.

Where this differs from Medapati et al.: they search broadly (hundreds of points per workload)
and score a list by its time to the target; here the search is a few points per baseline (those
`bench set-targets` drew, and a few more run the same way: scripts/reference/point_lists.py),
the same draws on every workload, one seed each (the further points' reports are
workloads/targets/search/<workload>.json), and those runs did not stop at the target, so the
cost is the shortfall of their best metric. The held-out variants are kept out of the
derivation, as theirs were.

Pure functions over plain data (target-setting reports as read from workloads/targets/).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from bench.target_reach import beyond_target

FILE_NAME = "point_list.json"  # a submission's list, beside its code (AlgoPerf's list form)
FAR = 10.0  # seed sds: a shortfall this large counts no more than a run that ended without a metric


class PointListError(ValueError):
    """The reports cannot give a list (a point missing on a workload, no points): says which."""


def point_cost(best_metric: float | None, report: Mapping) -> float:
    """The cost of one point on `report`'s workload: 0 when its best metric meets the target,
    else its shortfall in seed sds, capped at FAR."""
    if best_metric is None or not math.isfinite(best_metric):
        return FAR
    return min(FAR, max(0.0, -beyond_target(best_metric, report)))


def _key(hparams: Mapping[str, Any]) -> str:
    return json.dumps(dict(hparams), sort_keys=True)


def search_points(reports: Sequence[Mapping], submission: str) -> list[dict[str, Any]]:
    """`submission`'s points in the first report, in the order they were drawn (by seed)."""
    tried = [c for c in reports[0]["configurations"] if c["submission"] == submission]
    if not tried:
        raise PointListError(f"{reports[0]['workload']}'s target report tried no point of "
                             f"{submission}")
    return [dict(c["hparams"]) for c in sorted(tried, key=lambda c: c["seed"])]


def cost_table(reports: Sequence[Mapping], submission: str) -> tuple[list[dict], list[list[float]]]:
    """`submission`'s points and their costs: costs[i][j] is point i's cost on reports[j]'s
    workload. Every report must have tried the same points."""
    if not reports:
        raise PointListError("no target-setting reports to derive a list from")
    points = search_points(reports, submission)
    costs = [[0.0] * len(reports) for _ in points]
    for j, report in enumerate(reports):
        best = {_key(c["hparams"]): c["best_metric"] for c in report["configurations"]
                if c["submission"] == submission}
        for i, point in enumerate(points):
            if _key(point) not in best:
                raise PointListError(
                    f"{report['workload']}'s target report did not try {submission} at {point}; "
                    f"a list needs every point run on every workload (run `bench set-targets` "
                    f"for all of them with the same --trials)")
            costs[i][j] = point_cost(best[_key(point)], report)
    return points, costs


def greedy_order(costs: Sequence[Sequence[float]], length: int) -> list[int]:
    """The indices of the points of the greedy list (module docstring), at most `length` of them."""
    if length < 1:
        raise PointListError("a list needs at least one point")
    covered = [math.inf] * (len(costs[0]) if costs else 0)  # per workload: the list's cost so far
    order: list[int] = []
    for _ in range(min(length, len(costs))):
        rest = [i for i in range(len(costs)) if i not in order]
        chosen = min(rest, key=lambda i: (sum(map(min, costs[i], covered)), sum(costs[i]), i))
        order.append(chosen)
        covered = list(map(min, costs[chosen], covered))
    return order


@dataclasses.dataclass(frozen=True)
class DerivedList:
    """A derived list: its points in order, and each one's cost on each workload."""

    submission: str
    workloads: list[str]
    points: list[dict[str, Any]]
    costs: list[list[float]]  # costs[k][j]: the list's k-th point on workloads[j]

    def covered(self) -> dict[str, float]:
        """workload -> the list's cost there (its best point's): 0 where a point met the target."""
        return {w: min(row[j] for row in self.costs) for j, w in enumerate(self.workloads)}


def derive(reports: Sequence[Mapping], submission: str, length: int,
           fixed: Mapping[str, Any] | None = None) -> DerivedList:
    """The list of `submission`'s points, `length` long, each with `fixed` merged in (the
    hyperparameters the search held fixed and the runs should keep, e.g. the horizon)."""
    points, costs = cost_table(reports, submission)
    order = greedy_order(costs, length)
    return DerivedList(submission, [r["workload"] for r in reports],
                       [{**points[i], **(fixed or {})} for i in order], [costs[i] for i in order])
