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

    python benchmarks/ranking_stability.py RUN --resample 1000

screens a run before its second one (a day of machine time for the cpu tier's self-tuning
board): pairs of leaderboards whose every cell's studies are drawn with replacement from RUN's
(`bench.scoring.bootstrap_scores`), and how far each pair agrees (Kendall tau-b percentiles,
and the share of pairs at or over the bar). A rough stand-in for a second run: a draw repeats
some of the few studies and never sees a value outside them.

`--complete-only` scores only the submissions with a record in every (workload, study) cell of
both runs: boards in progress (scripts/reference/sitting.sh), whose last submissions are partial
and would otherwise be scored on what they have run (an unrun workload a miss, an unrun study
nothing at all). Both runs are scored over the same submissions, those finished in each: a
submission finished in one run alone would set the best times of that run's performance profile
and not the other's, and the two would differ for that reason alone. Over fewer submissions the
performance profile differs from the whole board's: an interim figure, not the bar's.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bench import ranking

TAU_BAR = 0.9  # issue 21: "Kendall tau >= 0.9, and no pair whose intervals are disjoint swaps"


class BadInput(Exception):
    """Input that cannot be read or scored; the message says which and why."""


def read_run(path: Path, study: int | None = None) -> list | None:
    """The trial records of one run given as a results directory (only its study `study` when
    given), or None for a leaderboard.json, which is scored as it was written."""
    if not path.exists():
        raise BadInput(f"{path} does not exist")
    if path.is_file():
        if study is not None:
            raise BadInput(f"{path}: a study can only be picked from a results directory")
        return None
    return read_records(path, study)


def run_scores(path: Path, records: list | None, ruleset: str, rules: str | None, measure: str,
               bootstrap: int, allow_stale: bool = False,
               ) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """(scores, bootstrap intervals) of one run: its `records` (`read_run`) scored, records
    measured on other definitions only with `allow_stale`; without records, its
    leaderboard.json."""
    if records is None:
        return scores_from_json(path)
    board = score_records(path, records, ruleset, rules, measure, bootstrap, allow_stale)
    return dict(board.scores), {name: tuple(v) for name, v in board.intervals.items()}


def finished_in_every_run(runs: list[list | None]) -> list[list | None]:
    """Each run's records (`read_run`) of the submissions finished (`complete_submissions`) in
    every run that has records; a leaderboard.json (None) stays as it is."""
    finished = [{record.submission for record in complete_submissions(records)}
                for records in runs if records is not None]
    if not finished:
        return runs
    kept = set.intersection(*finished)
    return [None if records is None else [r for r in records if r.submission in kept]
            for records in runs]


def complete_submissions(records: list) -> list:
    """The records of the submissions that have one in every (workload, study) cell that
    `records` hold: of a board in progress, the submissions it has finished."""
    cells = {(record.workload, record.study) for record in records}
    held = collections.defaultdict(set)
    for record in records:
        held[record.submission].add((record.workload, record.study))
    return [record for record in records if held[record.submission] == cells]


def read_records(path: Path, study: int | None = None) -> list:
    """The trial records of a results directory (of study `study` alone when given)."""
    from bench.trial.record import RecordError, load_records

    if not path.is_dir():
        raise BadInput(f"{path} is not a results directory")
    try:
        records, _ = load_records([path])
    except RecordError as error:
        raise BadInput(f"{path}: {error}") from None
    if study is not None:
        records = [record for record in records if record.study == study]
        if not records:
            raise BadInput(f"{path} has no records of study {study}")
    return records


def score_records(path: Path, records: list, ruleset: str, rules: str | None, measure: str,
                  bootstrap: int, allow_stale: bool = False):
    """The leaderboard (`bench.scoring.Leaderboard`) of the vouched ones of `records`, read
    from the results directory `path`."""
    from bench import scoring, trust

    try:
        vouched = trust.vouch(records, allow_stale=allow_stale)
        for refusal in vouched.refused:  # as `bench score` does: not scored, said on stderr
            print(f"{path}: refused {refusal}", file=sys.stderr)
        return scoring.score(vouched.accepted, ruleset=ruleset, rules=rules, measure=measure,
                             bootstrap_samples=bootstrap)
    except scoring.ScoringError as error:
        raise BadInput(f"{path}: {error}") from None


def resampled_taus(board, draws: int, seed: int = 0) -> list[float]:
    """Kendall tau-b of `draws` pairs of leaderboards resampled from `board`'s studies (NaN
    where a pair's scores are all tied)."""
    from bench import rules as rules_module, scoring

    boards = scoring.bootstrap_scores(board.entries, board.workloads, board.variants,
                                      samples=2 * draws, seed=seed,
                                      rules=rules_module.load(board.rules).scoring)
    return [ranking.kendall_tau(boards[2 * i], boards[2 * i + 1]) for i in range(draws)]


def resample_report(path: Path, taus: list[float]) -> dict:
    """What --resample prints and writes: percentiles of tau and the share at the bar."""
    defined = sorted(tau for tau in taus if not math.isnan(tau))
    if not defined:
        raise BadInput(f"{path}: every resampled pair ties all its submissions")
    return {"source": str(path), "pairs": len(taus), "defined": len(defined),
            "tau_percentiles": {str(q): float(np.percentile(defined, q)) for q in (10, 50, 90)},
            "share_at_bar": sum(tau >= TAU_BAR for tau in defined) / len(defined)}


def scores_from_json(path: Path) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """The scores and intervals of a leaderboard.json written by `bench score`."""
    try:
        board = ranking.read_ranking(path)
    except ValueError as error:
        raise BadInput(str(error)) from None
    return board.scores, board.intervals


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
        "pairs": comparison.pairs,
        "pairs_apart": len(comparison.apart),  # set apart by either run's intervals
        "meets_issue_21_bar": (not math.isnan(comparison.tau) and comparison.tau >= TAU_BAR
                               and not comparison.contradictions),
    }


def score_cell(run: dict, name: str) -> str:
    score = run["scores"].get(name)
    if score is None:
        return "-"
    rank = ranking.ranks(run["scores"])[name]
    if name not in run["intervals"]:  # one study: no interval
        return f"{rank}. {score:.3f}"
    low, high = run["intervals"][name]
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
    console.print(f"{len(comparison.apart)} of the {comparison.pairs} pairs are set apart by a run's "
                  f"intervals; {len(comparison.contradictions)} of them swap order")


def main_resample(args, console: Console) -> int:
    """`--resample N`: how far two boards resampled from FIRST's studies agree."""
    try:
        records = read_records(args.first)
        if args.complete_only:
            records = complete_submissions(records)
        board = score_records(args.first, records, args.ruleset, args.rules, args.measure, 0,
                              args.allow_stale)
        report = resample_report(args.first, resampled_taus(board, args.resample))
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    low, mid, high = report["tau_percentiles"].values()
    console.print(f"{report['pairs']} pairs of leaderboards resampled from {args.first}'s studies "
                  f"({len(board.scores)} submissions): Kendall tau-b {low:.3f} / {mid:.3f} / "
                  f"{high:.3f} (10th / 50th / 90th percentile); "
                  f"{report['share_at_bar']:.0%} at or over the bar ({TAU_BAR})", markup=False)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    console.print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="results directory or leaderboard.json")
    parser.add_argument("second", type=Path, nargs="?",
                        help="results directory or leaderboard.json (not with --resample)")
    parser.add_argument("--resample", type=int, metavar="PAIRS",
                        help="no second run: PAIRS pairs of leaderboards resampled from FIRST's "
                             "studies, and how far they agree")
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
    parser.add_argument("--complete-only", action="store_true",
                        help="score only the submissions with a record in every (workload, "
                             "study) cell of both runs: boards in progress")
    args = parser.parse_args(argv)
    console = Console()
    if (args.resample is None) == (args.second is None):
        parser.error("give SECOND, or --resample PAIRS with FIRST alone")
    if args.resample is not None:
        if args.resample < 1 or args.first_study is not None or args.second_study is not None:
            parser.error("--resample takes a positive number of pairs, and no --first-study or "
                         "--second-study (it resamples every study of FIRST)")
        return main_resample(args, console)
    picked = [(args.first, args.first_study), (args.second, args.second_study)]
    try:
        runs = [read_run(path, study) for path, study in picked]
        if args.complete_only:
            runs = finished_in_every_run(runs)
        loaded = [run_scores(path, records, args.ruleset, args.rules, args.measure,
                             args.bootstrap, args.allow_stale)
                  for (path, _), records in zip(picked, runs)]
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sources = [str(path) if study is None else f"{path} (study {study})"
               for path, study in picked]
    runs = [{"source": source, "scores": scores, "intervals": intervals}
            for source, (scores, intervals) in zip(sources, loaded)]
    comparison = ranking.compare(loaded[0][0], loaded[1][0], loaded[0][1], loaded[1][1])
    print_report(console, comparison, runs)
    args.out.write_text(json.dumps(comparison_json(comparison, runs), indent=1) + "\n")
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
