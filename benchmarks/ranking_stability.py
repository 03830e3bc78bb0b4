"""Does the leaderboard stand when run again? Two independent runs side by side (issue 21).

    python benchmarks/ranking_stability.py RUN_A RUN_B [--ruleset self] [--out FILE.json]
    python benchmarks/ranking_stability.py RUN RUN --first-study 0 --second-study 1

RUN_A and RUN_B are two independent runs of the same leaderboard: results directories of trial
records (scripts/reference/run.py, the second with `--seed-offset 1000000` and a results
directory of its own), or the leaderboard.json `bench score` wrote for each. A directory is
scored here (`bench.scoring.score`, with its bootstrap intervals over the studies); a JSON file
is read as scored.

It prints both rankings, Kendall's tau-b between them, and the pairs of submissions that swap
order, marking those whose bootstrap intervals are disjoint in either run (a swap that run's own
intervals said would not happen; see `bench.ranking`), and writes the same as JSON. The bar
issue 21 sets: tau >= 0.9 and no such swap. The exit status is 0 whatever the agreement, 2 on
input it cannot read or score.

`--first-study K` / `--second-study K` score only study K of a results directory: two studies of
one run side by side, i.e. how far a one-study leaderboard holds, without a second run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import ranking

TAU_BAR = 0.9  # issue 21: "Kendall tau >= 0.9, and no pair whose intervals are disjoint swaps"


class BadInput(Exception):
    """Input that cannot be read or scored; the message says which and why."""


def load_scores(path: Path, ruleset: str, rules: str | None, measure: str, bootstrap: int,
                study: int | None = None, allow_stale: bool = False,
                ) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """(scores, bootstrap intervals) of one run: a results directory (only its study `study`
    when given; records measured on other definitions only with `allow_stale`), or a
    leaderboard.json."""
    if not path.exists():
        raise BadInput(f"{path} does not exist")
    if path.is_file():
        if study is not None:
            raise BadInput(f"{path}: a study can only be picked from a results directory")
        return scores_from_json(path)
    from bench import scoring, trust
    from bench.trial.record import RecordError, load_records

    try:
        records, _ = load_records([path])
        if study is not None:
            records = [record for record in records if record.study == study]
            if not records:
                raise BadInput(f"{path} has no records of study {study}")
        vouched = trust.vouch(records, allow_stale=allow_stale)
        for refusal in vouched.refused:  # as `bench score` does: not scored, said on stderr
            print(f"{path}: refused {refusal}", file=sys.stderr)
        board = scoring.score(vouched.accepted, ruleset=ruleset, rules=rules, measure=measure,
                              bootstrap_samples=bootstrap)
    except (RecordError, scoring.ScoringError) as error:
        raise BadInput(f"{path}: {error}") from None
    return dict(board.scores), {name: tuple(v) for name, v in board.intervals.items()}


def scores_from_json(path: Path) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """The scores and intervals of a leaderboard.json written by `bench score`."""
    try:
        data = json.loads(path.read_text())
        scores = {name: float(value) for name, value in data["scores"].items()}
        intervals = {name: (float(low), float(high))
                     for name, (low, high) in (data.get("intervals") or {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise BadInput(f"{path} is not a leaderboard.json with scores: {error!r}") from None
    return scores, intervals


def comparison_json(comparison: ranking.Comparison, runs: list[dict]) -> dict:
    """What the JSON file holds."""
    return {
        "runs": runs,
        "kendall_tau": None if math.isnan(comparison.tau) else comparison.tau,
        "common": comparison.common,
        "only_first": comparison.only_first,
        "only_second": comparison.only_second,
        "swaps": [{"ahead_in_first": s.ahead, "ahead_in_second": s.behind,
                   "disjoint_in_first": s.disjoint_first, "disjoint_in_second": s.disjoint_second}
                  for s in comparison.swaps],
        "contradicted_intervals": len(comparison.contradictions),
        "meets_issue_21_bar": (not math.isnan(comparison.tau) and comparison.tau >= TAU_BAR
                               and not comparison.contradictions),
    }


def score_cell(run: dict, name: str) -> str:
    score = run["scores"].get(name)
    if score is None:
        return "-"
    low, high = run["intervals"].get(name, (math.nan, math.nan))
    rank = ranking.ranks(run["scores"])[name]
    return f"{rank}. {score:.3f} [{low:.3f}, {high:.3f}]"


def print_report(console: Console, comparison: ranking.Comparison, runs: list[dict]) -> None:
    table = Table(title="Rankings of the two runs (rank. score [95% bootstrap interval])")
    for column in ("submission", "first run", "second run"):
        table.add_column(column)
    for name in comparison.common + comparison.only_first + comparison.only_second:
        table.add_row(name, score_cell(runs[0], name), score_cell(runs[1], name))
    console.print(table)
    swaps = Table(title="Pairs that swap order")
    for column in ("ahead in the first run", "ahead in the second run", "intervals disjoint"):
        swaps.add_column(column)
    for swap in comparison.swaps:
        where = [label for label, flag in (("first run", swap.disjoint_first),
                                           ("second run", swap.disjoint_second)) if flag]
        swaps.add_row(swap.ahead, swap.behind, ", ".join(where) or "no")
    console.print(swaps if comparison.swaps else "No pair swaps order.")
    tau = "undefined" if math.isnan(comparison.tau) else f"{comparison.tau:.3f}"
    console.print(f"Kendall tau-b over {len(comparison.common)} submissions: {tau}; swaps against "
                  f"disjoint intervals: {len(comparison.contradictions)} (bar: tau >= {TAU_BAR}, "
                  "none)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="results directory or leaderboard.json")
    parser.add_argument("second", type=Path, help="results directory or leaderboard.json")
    parser.add_argument("--ruleset", default="self", help="ruleset scored from records")
    parser.add_argument("--rules", help="rules version scored from records")
    parser.add_argument("--measure", default="time", choices=("time", "steps"))
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap samples")
    parser.add_argument("--out", type=Path, default=Path("ranking_stability.json"))
    parser.add_argument("--first-study", type=int, help="score only this study of FIRST")
    parser.add_argument("--second-study", type=int, help="score only this study of SECOND")
    parser.add_argument("--allow-stale", action="store_true",
                        help="score records measured on other definitions too (as bench score "
                             "--allow-stale): runs made before a change to a workload's code")
    args = parser.parse_args(argv)
    console = Console()
    try:
        loaded = [load_scores(path, args.ruleset, args.rules, args.measure, args.bootstrap, study,
                              args.allow_stale)
                  for path, study in ((args.first, args.first_study),
                                      (args.second, args.second_study))]
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sources = [str(path) if study is None else f"{path} (study {study})"
               for path, study in ((args.first, args.first_study),
                                   (args.second, args.second_study))]
    runs = [{"source": source, "scores": scores, "intervals": intervals}
            for source, (scores, intervals) in zip(sources, loaded)]
    comparison = ranking.compare(loaded[0][0], loaded[1][0], loaded[0][1], loaded[1][1])
    print_report(console, comparison, runs)
    args.out.write_text(json.dumps(comparison_json(comparison, runs), indent=1) + "\n")
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
