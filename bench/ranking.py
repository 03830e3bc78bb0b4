"""Two rankings of the same submissions side by side: Kendall tau and the pairs that swap.

A ranking here is a leaderboard's benchmark scores (higher is better), optionally with each
score's bootstrap interval (`bench.scoring.bootstrap_intervals`). Only the submissions present
in both are compared.

- Kendall's tau-b over the common submissions (`scipy.stats.kendalltau`, whose default is the
  tau-b of Kendall 1945): tau = (C - D) / sqrt((n0 - n1) (n0 - n2)), with C and D the pairs both
  rankings order the same way (concordant) or oppositely (discordant), n0 = n (n - 1) / 2 and
  n1, n2 the pairs tied in the first and in the second ranking. 1: the same order; -1: reversed.
- A pair swaps when one ranking puts a strictly ahead of b and the other puts b strictly ahead of
  a (a tie in either is no swap). A swap contradicts a leaderboard's own confidence when, in
  that leaderboard, the two bootstrap intervals are disjoint (closed intervals: [0.2, 0.5] and
  [0.5, 0.7] overlap).

Used by benchmarks/ranking_stability.py (two independent runs of one leaderboard) and
bench/fidelity.py (the cpu tier against published full-scale results).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Mapping
from pathlib import Path

Interval = tuple[float, float]


@dataclasses.dataclass(frozen=True)
class Swap:
    """Submissions `ahead` and `behind` in the first ranking, in the other order in the second."""

    ahead: str
    behind: str
    disjoint_first: bool  # their intervals are disjoint in the first leaderboard
    disjoint_second: bool

    @property
    def contradicts_an_interval(self) -> bool:
        return self.disjoint_first or self.disjoint_second


@dataclasses.dataclass(frozen=True)
class Comparison:
    common: list[str]  # by the first ranking's order
    only_first: list[str]
    only_second: list[str]
    tau: float  # nan with fewer than 2 common submissions or when a ranking is all ties
    swaps: list[Swap]
    apart: list[tuple[str, str]]  # common pairs some leaderboard's intervals set apart

    @property
    def pairs(self) -> int:
        """How many pairs the common submissions make."""
        return len(self.common) * (len(self.common) - 1) // 2

    @property
    def contradictions(self) -> list[Swap]:
        """The swaps of pairs some leaderboard called apart by disjoint intervals."""
        return [swap for swap in self.swaps if swap.contradicts_an_interval]


def kendall_tau(first: Mapping[str, float], second: Mapping[str, float]) -> float:
    """Kendall's tau-b between two score tables over their common keys."""
    from scipy.stats import kendalltau

    common = sorted(set(first) & set(second))
    if len(common) < 2:
        return math.nan
    result = kendalltau([first[name] for name in common], [second[name] for name in common])
    return float(result.statistic)


def disjoint(one: Interval, other: Interval) -> bool:
    """Closed intervals with no point in common."""
    return one[1] < other[0] or other[1] < one[0]


def swapped_pairs(first: Mapping[str, float], second: Mapping[str, float],
                  first_intervals: Mapping[str, Interval] | None = None,
                  second_intervals: Mapping[str, Interval] | None = None) -> list[Swap]:
    """Pairs ordered strictly one way by `first` and strictly the other way by `second`."""
    common = sorted(set(first) & set(second), key=lambda name: (-first[name], name))
    swaps = []
    for a, b in itertools.combinations(common, 2):
        if first[a] == first[b] or second[a] == second[b]:
            continue
        if (first[a] > first[b]) == (second[a] > second[b]):
            continue
        ahead, behind = (a, b) if first[a] > first[b] else (b, a)
        swaps.append(Swap(ahead, behind, apart(first_intervals, ahead, behind),
                          apart(second_intervals, ahead, behind)))
    return swaps


def apart(intervals: Mapping[str, Interval] | None, a: str, b: str) -> bool:
    """Whether `intervals` (when given, and holding both) sets a and b apart."""
    if not intervals or a not in intervals or b not in intervals:
        return False
    return disjoint(intervals[a], intervals[b])


def compare(first: Mapping[str, float], second: Mapping[str, float],
            first_intervals: Mapping[str, Interval] | None = None,
            second_intervals: Mapping[str, Interval] | None = None) -> Comparison:
    """Everything the stability and fidelity reports say about two rankings."""
    common = sorted(set(first) & set(second), key=lambda name: (-first[name], name))
    return Comparison(
        common=common,
        only_first=sorted(set(first) - set(second)),
        only_second=sorted(set(second) - set(first)),
        tau=kendall_tau(first, second),
        swaps=swapped_pairs(first, second, first_intervals, second_intervals),
        apart=[(a, b) for a, b in itertools.combinations(common, 2)
               if apart(first_intervals, a, b) or apart(second_intervals, a, b)],
    )


@dataclasses.dataclass(frozen=True)
class Ranking:
    """A leaderboard's scores, their bootstrap intervals (empty when it has none), its ruleset."""

    scores: dict[str, float]
    intervals: dict[str, Interval]
    ruleset: str | None


def read_ranking(path: str | Path) -> Ranking:
    """The ranking of a leaderboard.json that `bench score` wrote; ValueError when it is not one."""
    try:
        data = json.loads(Path(path).read_text())
        scores = {name: float(value) for name, value in data["scores"].items()}
        intervals = {name: (float(low), float(high))
                     for name, (low, high) in (data.get("intervals") or {}).items()}
        return Ranking(scores, intervals, data.get("ruleset"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path} is not a leaderboard.json with scores: {error!r}") from None


def ranks(scores: Mapping[str, float]) -> dict[str, int]:
    """Competition ranks (1 = best; equal scores share the better rank: 1, 2, 2, 4)."""
    return {name: 1 + sum(other > score for other in scores.values())
            for name, score in scores.items()}
