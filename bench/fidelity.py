"""The cpu tier beside published full-scale results: does it rank the methods the same way?

The published results are data, each number citing its repository, file and commit, or its
paper (bench/data/published/*.toml): AlgoPerf leaderboard scores of the methods shipped here,
and the findings of the learning-rate-free study (Kasimbeg et al. 2025, arXiv 2505.24005).
`fidelity_rows` sets a cpu-tier leaderboard (the scores of a leaderboard.json that `bench score`
wrote) beside those of the same tuning ruleset:

- against a published leaderboard, a submission agrees when the cpu tier orders it the same way
  as the published scores do against every other submission present in both (a pair tied on
  either side gives no verdict);
- against a finding that puts it below another submission (`below`), it agrees when its cpu-tier
  score is strictly lower than that submission's;
- with the cpu tier's bootstrap intervals (a leaderboard.json's `intervals`), a pair whose
  intervals overlap is a tie within the cpu tier's noise, not an order: it is set aside from the
  verdict and named as such (`unresolved`); a verdict all of whose pairs are ties says neither
  yes nor no (`agrees` is None);
- `kendall_taus`: Kendall's tau-b (`bench.ranking.kendall_tau`) between the cpu-tier scores and
  each published leaderboard's, over the submissions present in both.

A self-tuning leaderboard runs each submission's default point. A published self-tuning entry
that ran another point (`point`: a file of the submission's folder, or "own") compares another
configuration of the same method; its verdicts are marked (`other_point`).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

from bench import ranking
from bench.ranking import Interval

OTHER_POINT_MARK = "†"


@dataclasses.dataclass(frozen=True)
class Source:
    key: str
    title: str
    short: str  # the column heading
    citation: str  # repository/file@commit, or the paper's address
    note: str = ""


@dataclasses.dataclass(frozen=True)
class PublishedScore:
    submission: str  # ours
    source: str
    ruleset: str
    entry: str  # the name on the published leaderboard
    entry_folder: str  # its folder in the leaderboard's repository
    score: float
    rank: int
    entries: int  # entries on that leaderboard
    point: str | None = None  # our point the entry ran (self-tuning): "default" or a file
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Finding:
    submission: str
    source: str
    ruleset: str
    finding: str
    point: str = "default"
    below: str | None = None  # the finding puts this submission below that one


@dataclasses.dataclass(frozen=True)
class Published:
    sources: dict[str, Source]
    scores: list[PublishedScore]
    findings: list[Finding]


@dataclasses.dataclass(frozen=True)
class Verdict:
    source: str
    agrees: bool | None  # None: every pair is a tie within the cpu tier's intervals
    against: tuple[str, ...]  # the others the cpu tier orders (those out of order if not)
    other_point: bool = False
    unresolved: tuple[str, ...] = ()  # others whose cpu-tier intervals overlap this one's


@dataclasses.dataclass(frozen=True)
class Row:
    submission: str
    cpu_score: float | None  # None: not on the cpu-tier leaderboard
    cpu_rank: int | None
    published: dict[str, PublishedScore]  # source -> its score
    findings: list[Finding]
    verdicts: list[Verdict]


def published_dir() -> Path:
    return Path(str(resources.files("bench").joinpath("data", "published")))


def load_published(directory: str | Path | None = None) -> Published:
    """Every source, score and finding of the TOML files in `directory` (default: bench's)."""
    sources, scores, findings = {}, [], []
    for path in sorted(Path(directory or published_dir()).glob("*.toml")):
        data = tomllib.loads(path.read_text())
        for key, source in data.get("sources", {}).items():
            sources[key] = Source(key, source["title"], source["short"], citation(source),
                                  source.get("note", ""))
        scores += [PublishedScore(**entry) for entry in data.get("scores", [])]
        findings += [Finding(**entry) for entry in data.get("findings", [])]
    unknown = {item.source for item in scores + findings} - set(sources)
    if unknown:
        raise ValueError(f"published results cite unknown sources: {', '.join(sorted(unknown))}")
    return Published(sources, scores, findings)


def citation(source: Mapping) -> str:
    if "repository" in source:
        return f"{source['repository']}, {source['file']} at commit {source['commit'][:12]}"
    return f"arXiv {source['arxiv']} ({source['url']})"


def score_verdict(name: str, source: str, board: Mapping[str, float],
                  entries: Sequence[PublishedScore], ruleset: str,
                  intervals: Mapping[str, Interval] | None = None) -> Verdict | None:
    """How the cpu tier orders `name` against the other published entries of `source`."""
    mine = next((e for e in entries if e.submission == name and e.source == source), None)
    if mine is None or name not in board:
        return None
    others = [e for e in entries if e.source == source and e.submission != name
              and e.submission in board and e.score != mine.score
              and board[e.submission] != board[name]]
    if not others:
        return None
    points = [e.point for e in [mine, *others]]
    other_point = ruleset == "self" and any(point not in (None, "default") for point in points)
    out_of_order = {e.submission for e in others
                    if (mine.score > e.score) != (board[name] > board[e.submission])}
    return ordered_verdict(source, name, [e.submission for e in others], out_of_order,
                           other_point, intervals)


def finding_verdict(finding: Finding, board: Mapping[str, float],
                    intervals: Mapping[str, Interval] | None = None) -> Verdict | None:
    """Whether the cpu tier puts the finding's submission strictly below its `below`."""
    name, below = finding.submission, finding.below
    if below is None or name not in board or below not in board or board[name] == board[below]:
        return None
    out_of_order = set() if board[name] < board[below] else {below}
    return ordered_verdict(finding.source, name, [below], out_of_order,
                           finding.point != "default", intervals)


def ordered_verdict(source: str, name: str, others: Sequence[str], out_of_order: set[str],
                    other_point: bool, intervals: Mapping[str, Interval] | None) -> Verdict:
    """The verdict on `name` against `others`, setting aside the pairs the intervals tie."""
    tied = tuple(o for o in others if tie(intervals, name, o))
    ordered = tuple(o for o in others if o not in tied)
    if not ordered:
        return Verdict(source, None, (), other_point, tied)
    wrong = tuple(o for o in ordered if o in out_of_order)
    return Verdict(source, not wrong, wrong or ordered, other_point, tied)


def tie(intervals: Mapping[str, Interval] | None, a: str, b: str) -> bool:
    """Whether both have a cpu-tier interval and they overlap: the cpu tier does not order them."""
    if not intervals or a not in intervals or b not in intervals:
        return False
    return not ranking.disjoint(intervals[a], intervals[b])


def fidelity_rows(board: Mapping[str, float], ruleset: str, published: Published,
                  intervals: Mapping[str, Interval] | None = None) -> list[Row]:
    """One row per submission on the board (best first), then published ones it lacks.

    `intervals`: the cpu tier's bootstrap interval of each score, to tell ties from orders."""
    scores = [s for s in published.scores if s.ruleset == ruleset]
    findings = [f for f in published.findings if f.ruleset == ruleset]
    ranks = ranking.ranks(board)
    names = sorted(board, key=lambda name: (ranks[name], name))
    names += sorted({item.submission for item in scores + findings} - set(board))
    rows = []
    for name in names:
        mine = {s.source: s for s in scores if s.submission == name}
        my_findings = [f for f in findings if f.submission == name]
        verdicts = [score_verdict(name, source, board, scores, ruleset, intervals)
                    for source in mine]
        verdicts += [finding_verdict(finding, board, intervals) for finding in my_findings]
        rows.append(Row(name, board.get(name), ranks.get(name), mine, my_findings,
                        [v for v in verdicts if v is not None]))
    return rows


def kendall_taus(board: Mapping[str, float], ruleset: str,
                 published: Published) -> dict[str, tuple[float, list[str]]]:
    """Per published leaderboard of `ruleset`: (tau-b, the submissions present in both)."""
    out = {}
    for source in published.sources:
        theirs = {s.submission: s.score for s in published.scores
                  if s.source == source and s.ruleset == ruleset}
        if theirs:
            common = sorted(set(theirs) & set(board))
            out[source] = (ranking.kendall_tau(board, theirs), common)
    return out


def markdown(board: Mapping[str, float], ruleset: str, published: Published,
             intervals: Mapping[str, Interval] | None = None) -> str:
    """The fidelity table, the Kendall taus, and the sources, as Markdown."""
    rows = fidelity_rows(board, ruleset, published, intervals)
    score_sources = [k for k in published.sources if any(s.source == k for s in published.scores)]
    finding_sources = [k for k in published.sources
                       if any(f.source == k for f in published.findings)]
    heads = ["submission", "cpu-tier score (rank)"]
    heads += [published.sources[k].short for k in score_sources + finding_sources] + ["agree?"]
    lines = ["| " + " | ".join(heads) + " |", "|---" * len(heads) + "|"]
    for row in rows:
        cells = [row.submission, cpu_cell(row, intervals)]
        cells += [published_cell(row.published.get(k), ruleset) for k in score_sources]
        cells += ["; ".join(f.finding for f in row.findings if f.source == k) or "-"
                  for k in finding_sources]
        cells.append("; ".join(verdict_text(v, published) for v in row.verdicts) or "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for source, (tau, common) in kendall_taus(board, ruleset, published).items():
        value = "undefined" if math.isnan(tau) else f"{tau:.3f}"
        lines.append(f"Kendall tau-b, cpu tier vs {published.sources[source].short} ({ruleset}), "
                     f"over {len(common)} submissions in both ({', '.join(common) or 'none'}): "
                     f"{value}.")
    lines += ["", f"{OTHER_POINT_MARK}: the published entry ran another hyperparameter point than "
              "the cpu-tier leaderboard's (its default), so it compares another configuration of "
              "the same method."]
    if intervals:
        lines += ["", "cpu-tier scores with their bootstrap intervals; \"tie\": the two "
                  "submissions' intervals overlap, so the cpu tier does not order them and the "
                  "pair gives no verdict."]
    lines += ["", "Sources:", ""]
    lines += [f"- {s.short}: {s.title}; {s.citation}" + (f". {s.note}" if s.note else "")
              for s in published.sources.values()]
    return "\n".join(lines) + "\n"


def cpu_cell(row: Row, intervals: Mapping[str, Interval] | None) -> str:
    if row.cpu_score is None:
        return "not on the leaderboard"
    interval = (intervals or {}).get(row.submission)
    spread = f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else ""
    return f"{row.cpu_score:.3f}{spread} ({row.cpu_rank})"


def published_cell(entry: PublishedScore | None, ruleset: str) -> str:
    if entry is None:
        return "-"
    mark = OTHER_POINT_MARK if ruleset == "self" and entry.point not in (None, "default") else ""
    return f"{entry.score:.4f} ({entry.rank}/{entry.entries}){mark}"


def verdict_text(verdict: Verdict, published: Published) -> str:
    mark = OTHER_POINT_MARK if verdict.other_point else ""
    tie = f"tie with {', '.join(verdict.unresolved)}" if verdict.unresolved else ""
    if verdict.agrees is None:
        answer = tie
    else:
        answer = "yes" if verdict.agrees else f"no (vs {', '.join(verdict.against)})"
        answer += f"; {tie}" if tie else ""
    return f"{published.sources[verdict.source].short}: {answer}{mark}"
