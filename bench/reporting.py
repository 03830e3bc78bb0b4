"""Leaderboards as tables and files, and plots of profiles and evaluation curves.

`write_leaderboard` produces, for one `Leaderboard`:

- leaderboard.md: a header (ruleset, measure, hardware, the command that produced it), the score
  table and the per-workload times and ratios;
- leaderboard.csv: one row per submission and workload (median, ratio, studies, hits);
- leaderboard.json: the same data and the profiles, for other tools;
- performance_profile.png / .svg: rho(tau) of every submission;
- curves_<workload>.png: validation metric against submission time, one line per trial.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from rich.console import Group
from rich.table import Table

from bench import rules as rules_module
from bench import scoring
from bench.figures import pyplot, save_figure
from bench.scoring import Leaderboard


def format_value(value: float, measure: str) -> str:
    if not math.isfinite(value):
        return "miss"
    if measure != "time":
        return f"{int(value)}"
    return f"{value:.2f}s" if value < 10 else f"{value:.1f}s"


def format_ratio(value: float, time: float | None = None) -> str:
    """The ratio to the best; a hit more than tau_max times slower counts as missed: 'over 4x'."""
    if math.isfinite(value):
        return f"{value:.2f}"
    return f"over {scoring.TAU_MAX:g}x" if time is not None and math.isfinite(time) else "inf"


def cell(board: Leaderboard, submission: str, workload: str) -> str:
    """A workload's median over studies and its ratio to the best, or why it counts as missed."""
    entry = board.entries[submission].get(workload)
    if entry is None:
        return "-"
    text = format_value(entry.median, board.measure)
    reason = board.reasons.get(submission, {}).get(workload)
    if not math.isfinite(entry.median):
        return text
    if reason:
        return f"{text} ({reason})"
    ratio = board.ratios[submission].get(workload)
    return f"{text} ({ratio:.2f})" if ratio is not None else text


def score_cell(board: Leaderboard, submission: str) -> str:
    low_high = board.intervals.get(submission)
    score = f"{board.scores[submission]:.3f}"
    return f"{score} [{low_high[0]:.3f}, {low_high[1]:.3f}]" if low_high else score


def _title(board: Leaderboard) -> str:
    return f"{board.ruleset} tuning, {board.rules} rules, {board.measure} to target"


def rich_table(board: Leaderboard) -> Group:
    """Submissions by score with each base workload's cell; the held-out variants below."""
    scores = Table(title=f"Leaderboard ({_title(board)}; cells: median over studies "
                   "(ratio to best, or why it counts as missed))")
    scores.add_column("submission")
    scores.add_column("score [95% CI]" if board.intervals else "score", justify="right")
    for workload in board.workloads:
        scores.add_column(workload, justify="right")
    for submission in board.submissions:
        scores.add_row(submission, score_cell(board, submission),
                       *(cell(board, submission, w) for w in board.workloads))
    if not board.variants:
        return Group(scores)
    variants = Table(title="Held-out variants (a miss, or a time over 4x the fastest among "
                     "submissions that reached the base, costs the base)")
    variants.add_column("submission")
    for variant in sorted(board.variants):
        variants.add_column(variant, justify="right")
    for submission in board.submissions:
        variants.add_row(submission, *(cell(board, submission, v) for v in sorted(board.variants)))
    return Group(scores, variants)


def leaderboard_rows(board: Leaderboard) -> list[dict]:
    rows = []
    for submission in board.submissions:
        for workload, entry in sorted(board.entries[submission].items()):
            rows.append({
                "ruleset": board.ruleset,
                "rules": board.rules,
                "submission": submission,
                "workload": workload,
                "variant_of": board.variants.get(workload, ""),
                "measure": board.measure,
                "median": entry.median,
                "ratio": board.ratios[submission].get(workload, ""),
                "missed_because": board.reasons.get(submission, {}).get(workload, ""),
                "studies": len(entry.study_values),
                "studies_hit": sum(math.isfinite(v) for v in entry.study_values),
                "trials": entry.trials,
                "trials_hit": entry.hits,
                "score": board.scores[submission],
            })
    return rows


def _markdown_table(board: Leaderboard, columns: list[str], with_score: bool) -> list[str]:
    head = ["submission"] + (["score"] if with_score else [])
    head += ["95% CI"] if with_score and board.intervals else []
    lines = ["| " + " | ".join(head + columns) + " |", "|---" * (len(head) + len(columns)) + "|"]
    for submission in board.submissions:
        cells = [submission]
        if with_score:
            cells.append(f"{board.scores[submission]:.3f}")
            if board.intervals:
                low, high = board.intervals[submission]
                cells.append(f"[{low:.3f}, {high:.3f}]")
        cells += [cell(board, submission, w) for w in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(board: Leaderboard, command: str | None = None) -> str:
    lines = [f"# Leaderboard: {_title(board)}", ""]
    if command:
        lines += ["Produced by:", "", f"    {command}", ""]
    interval = "; 95% bootstrap interval over studies" if board.intervals else ""
    lines += [
        f"Hardware fingerprints: {', '.join(board.hardware)}. Score: normalised area under the "
        "performance profile from tau = 1 to 4 (1 = fastest on every workload; a missed target "
        f"counts as infinite time){interval}.",
        "",
    ]
    lines += _markdown_table(board, board.workloads, with_score=True)
    lines += ["", "Cells: median over studies of each study's chosen trial to target "
              "(ratio to the best submission, or why the workload counts as missed)."]
    if board.variants:
        lines += ["", "## Held-out variants", "",
                  "A missed variant, or one over 4x the fastest time on it among the submissions "
                  "that reached its base, makes the base count as missed.", ""]
        lines += _markdown_table(board, sorted(board.variants), with_score=False)
    if board.warnings:
        lines += ["", "Warnings:", ""] + [f"- {warning}" for warning in board.warnings]
    return "\n".join(lines) + "\n"


def scored_records(records: Iterable[Mapping], ruleset: str, rules: str | None = None) -> list:
    """The records of `ruleset` (and of rules version `rules`, when given)."""
    return [r for r in records if r["ruleset"] == ruleset
            and (rules is None or scoring.record_rules(r) == rules)]


def study_values(records: Iterable[Mapping], ruleset: str, rules: str | None = None) -> dict:
    """submission -> workload -> {"time": [...], "steps": [...]} per study (null = missed).

    Kept in leaderboard.json so that a later run (a CI job scoring a new submission) can be
    ranked against this leaderboard without its records, by time on the same hardware or by
    steps elsewhere.
    """
    records = scored_records(records, ruleset, rules)
    choice = rules_module.load(rules).scoring.trial_choice if rules else "fastest"
    out: dict = {}
    for measure in ("time", "steps"):
        for submission, row in scoring.study_table(records, measure, choice).items():
            for workload, entry in row.items():
                slot = out.setdefault(submission, {}).setdefault(workload, {})
                slot[measure] = [_json_number(v) for v in entry.study_values]
    return out


def workload_definitions(records: Iterable[Mapping]) -> dict[str, list[str]]:
    """workload -> the definition hashes (`workload_sha256`) its records were measured on.

    Kept in leaderboard.json so that a later run ranked against this leaderboard (`bench ci`)
    can tell whether it measured the same workloads: a change to a workload's model, data, loss
    or spec changes its hash. Imported logs carry none.
    """
    found: dict[str, set[str]] = {}
    for record in records:
        if record.get("workload_sha256"):
            found.setdefault(record["workload"], set()).add(record["workload_sha256"])
    return {workload: sorted(hashes) for workload, hashes in sorted(found.items())}


def _json_number(value):
    return value if not isinstance(value, float) or math.isfinite(value) else None


def write_leaderboard(
    board: Leaderboard,
    out_dir: str | Path,
    records: Iterable[Mapping] = (),
    command: str | None = None,
) -> list[Path]:
    """Write the leaderboard files and plots; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    path = out / "leaderboard.md"
    path.write_text(markdown(board, command))
    written.append(path)

    rows = leaderboard_rows(board)
    path = out / "leaderboard.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["submission"])
        writer.writeheader()
        writer.writerows(rows)
    written.append(path)

    path = out / "leaderboard.json"
    data = {
        "ruleset": board.ruleset,
        "rules": board.rules,
        "measure": board.measure,
        "command": command,
        "hardware": board.hardware,
        "workloads": board.workloads,
        "variants": board.variants,
        "reasons": board.reasons,
        "scores": board.scores,
        "intervals": {s: list(v) for s, v in board.intervals.items()},
        "taus": board.taus.tolist(),
        "profiles": {s: p.tolist() for s, p in board.profiles.items()},
        "rows": [{k: _json_number(v) for k, v in row.items()} for row in rows],
        "warnings": board.warnings,
        "studies": study_values(records, board.ruleset, board.rules),
        "definitions": workload_definitions(
            scored_records(records, board.ruleset, board.rules)),
    }
    path.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    written.append(path)

    written += plot_profiles(board, out)
    written += plot_curves([r for r in records if scoring.record_rules(r) == board.rules], out,
                           ruleset=board.ruleset, workloads=board.workloads + sorted(board.variants))
    return written


LINE_STYLES = ("-", "--", "-.", ":")


def submission_styles(names: list[str]) -> dict[str, dict]:
    """A colour and line style per submission, distinct for up to 20 and rarely repeated after.

    Colours come from matplotlib's tab20 in the order of its ten dark hues, then the ten light
    ones; line styles cycle over four, so two submissions sharing a hue differ in style.
    """
    import matplotlib

    palette = matplotlib.colormaps["tab20"]
    styles = {}
    for index, name in enumerate(names):
        hue = (2 * index) % 20 + (index // 10) % 2
        styles[name] = {"color": palette(hue), "linestyle": LINE_STYLES[index % len(LINE_STYLES)]}
    return styles


def plot_profiles(board: Leaderboard, out_dir: Path) -> list[Path]:
    """rho(tau) of every submission; the legend, in score order, sits right of the axes."""
    figure, axis = pyplot().subplots(figsize=(7, 4.5))
    styles = submission_styles(board.submissions)
    for submission in board.submissions:
        axis.step(board.taus, board.profiles[submission], where="post", linewidth=1.6,
                  label=f"{submission} ({board.scores[submission]:.3f})", **styles[submission])
    axis.set_xlabel(f"tau (ratio to the fastest, by {board.measure})")
    axis.set_ylabel("fraction of workloads within tau")
    axis.set_ylim(-0.02, 1.02)
    axis.set_title(f"Performance profiles, {board.ruleset} tuning ({board.rules})")
    axis.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", frameon=False)
    return save_figure(figure, out_dir / "performance_profile.png",
                       out_dir / "performance_profile.svg", bbox_inches="tight")


def curve_limits(records: list[Mapping], spec: Mapping) -> tuple[float, float] | None:
    """The y-range of a curves plot of a metric in [0, 1] where higher is better.

    It zooms on the target (0.15 below it to 0.05 above) but always reaches down to the best
    value of every trial, so a trial that never came near the target is still drawn. None: let
    the plot scale itself (other metrics).
    """
    target = spec["validation_target"]
    if not (spec.get("higher_is_better", True) and 0 < target <= 1):
        return None
    key = f"validation/{spec['target_metric']}"
    bests = [max(values) for values in (
        [row[key] for row in record["evals"] if key in row and math.isfinite(row[key])]
        for record in records) if values]
    low = min([target - 0.15] + [best - 0.02 for best in bests])
    return max(0.0, low), min(1.0, target + 0.05)


def plot_curves(records: list[Mapping], out_dir: Path, ruleset: str | None = None,
                workloads: Iterable[str] | None = None) -> list[Path]:
    """Per workload, validation metric against submission time for every trial."""
    plt = pyplot()
    from matplotlib.collections import LineCollection

    keep = set(workloads) if workloads is not None else None
    by_workload: dict[str, list[Mapping]] = {}
    for record in records:
        if (ruleset is None or record["ruleset"] == ruleset) and (
                keep is None or record["workload"] in keep):
            by_workload.setdefault(record["workload"], []).append(record)
    paths = []
    for workload, group in sorted(by_workload.items()):
        spec = group[0]["workload_spec"]
        key = f"validation/{spec['target_metric']}"
        styles = submission_styles(sorted({r["submission"] for r in group}))
        curves = {submission: [] for submission in styles}
        for record in group:
            points = [(row["submission_time"], row[key]) for row in record["evals"] if key in row]
            if points:
                curves[record["submission"]].append(np.asarray(points, dtype=float))
        figure, axis = plt.subplots(figsize=(7, 4.5))
        for submission, style in styles.items():  # one artist per submission: fast to draw
            axis.add_collection(LineCollection(
                curves[submission], colors=[style["color"]], linestyles=style["linestyle"],
                linewidths=1, alpha=0.6, label=submission))
        axis.autoscale_view()
        axis.axhline(spec["validation_target"], color="black", linestyle="--", linewidth=1,
                     label="target")
        limits = curve_limits(group, spec)
        if limits:
            axis.set_ylim(*limits)
        axis.set_xlabel("submission time (s)")
        axis.set_ylabel(key)
        axis.set_title(f"{workload}: every trial")
        axis.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", frameon=False)
        paths += save_figure(figure, out_dir / f"curves_{workload}.png", bbox_inches="tight")
    return paths
