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

from rich.table import Table

from bench import scoring
from bench.scoring import Leaderboard


def format_value(value: float, measure: str) -> str:
    if not math.isfinite(value):
        return "miss"
    if measure != "time":
        return f"{int(value)}"
    return f"{value:.2f}s" if value < 10 else f"{value:.1f}s"


def format_ratio(value: float, time: float | None = None) -> str:
    """The ratio to the best; a hit more than tau_max times slower counts as infinite: '>4'."""
    if math.isfinite(value):
        return f"{value:.2f}"
    return f">{scoring.TAU_MAX:g}" if time is not None and math.isfinite(time) else "inf"


def score_cell(board: Leaderboard, submission: str) -> str:
    low_high = board.intervals.get(submission)
    score = f"{board.scores[submission]:.3f}"
    return f"{score} [{low_high[0]:.3f}, {low_high[1]:.3f}]" if low_high else score


def rich_table(board: Leaderboard) -> Table:
    """Submissions by score; per workload the median study time and the ratio to the best."""
    table = Table(
        title=f"Leaderboard ({board.ruleset} tuning, {board.measure} to target; "
        "cells: median over studies (ratio to best))"
    )
    table.add_column("submission")
    table.add_column("score [95% CI]", justify="right")
    columns = board.workloads + sorted(board.variants)
    for workload in columns:
        label = workload if workload not in board.variants else f"{workload} (variant)"
        table.add_column(label, justify="right")
    for submission in board.submissions:
        cells = [submission, score_cell(board, submission)]
        for workload in columns:
            entry = board.entries[submission].get(workload)
            if entry is None:
                cells.append("-")
                continue
            text = format_value(entry.median, board.measure)
            if workload in board.ratios[submission]:
                text += f" ({format_ratio(board.ratios[submission][workload], entry.median)})"
            cells.append(text)
        table.add_row(*cells)
    return table


def leaderboard_rows(board: Leaderboard) -> list[dict]:
    rows = []
    for submission in board.submissions:
        for workload, entry in sorted(board.entries[submission].items()):
            rows.append({
                "ruleset": board.ruleset,
                "submission": submission,
                "workload": workload,
                "variant_of": board.variants.get(workload, ""),
                "measure": board.measure,
                "median": entry.median,
                "ratio": board.ratios[submission].get(workload, ""),
                "studies": len(entry.study_values),
                "studies_hit": sum(math.isfinite(v) for v in entry.study_values),
                "trials": entry.trials,
                "trials_hit": entry.hits,
                "score": board.scores[submission],
            })
    return rows


def markdown(board: Leaderboard, command: str | None = None) -> str:
    lines = [f"# Leaderboard: {board.ruleset} tuning, {board.measure} to target", ""]
    if command:
        lines += ["Produced by:", "", f"    {command}", ""]
    lines += [
        f"Hardware fingerprints: {', '.join(board.hardware)}. Score: normalised area under the "
        "performance profile from tau = 1 to 4 (1 = fastest on every workload; a missed target "
        "counts as infinite time); 95% bootstrap interval over studies.",
        "",
    ]
    columns = board.workloads + sorted(board.variants)
    lines.append("| submission | score | 95% CI | " + " | ".join(columns) + " |")
    lines.append("|---" * (3 + len(columns)) + "|")
    for submission in board.submissions:
        low, high = board.intervals.get(submission, (math.nan, math.nan))
        cells = []
        for workload in columns:
            entry = board.entries[submission].get(workload)
            if entry is None:
                cells.append("-")
                continue
            cell = format_value(entry.median, board.measure)
            ratio = board.ratios[submission].get(workload)
            if ratio is not None:
                cell += f" ({format_ratio(ratio, entry.median)})"
            cells.append(cell)
        lines.append(
            f"| {submission} | {board.scores[submission]:.3f} | [{low:.3f}, {high:.3f}] | "
            + " | ".join(cells) + " |"
        )
    lines += ["", "Cells: median over studies of each study's fastest trial to target "
              "(ratio to the best submission)."]
    if board.warnings:
        lines += ["", "Warnings:", ""] + [f"- {warning}" for warning in board.warnings]
    return "\n".join(lines) + "\n"


def study_values(records: Iterable[Mapping], ruleset: str) -> dict:
    """submission -> workload -> {"time": [...], "steps": [...]} per study (null = missed).

    Kept in leaderboard.json so that a later run (a CI job scoring a new submission) can be
    ranked against this leaderboard without its records, by time on the same hardware or by
    steps elsewhere.
    """
    records = [r for r in records if r["ruleset"] == ruleset]
    out: dict = {}
    for measure in ("time", "steps"):
        for submission, row in scoring.study_table(records, measure).items():
            for workload, entry in row.items():
                cell = out.setdefault(submission, {}).setdefault(workload, {})
                cell[measure] = [_json_number(v) for v in entry.study_values]
    return out


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
        "measure": board.measure,
        "command": command,
        "hardware": board.hardware,
        "workloads": board.workloads,
        "variants": board.variants,
        "scores": board.scores,
        "intervals": {s: list(v) for s, v in board.intervals.items()},
        "taus": board.taus.tolist(),
        "profiles": {s: p.tolist() for s, p in board.profiles.items()},
        "rows": [{k: _json_number(v) for k, v in row.items()} for row in rows],
        "warnings": board.warnings,
        "studies": study_values(records, board.ruleset),
    }
    path.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    written.append(path)

    written += plot_profiles(board, out)
    written += plot_curves(list(records), out, ruleset=board.ruleset)
    return written


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_profiles(board: Leaderboard, out_dir: Path) -> list[Path]:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    for submission in board.submissions:
        axis.step(board.taus, board.profiles[submission], where="post",
                  label=f"{submission} ({board.scores[submission]:.3f})")
    axis.set_xlabel(f"tau (ratio to the fastest, by {board.measure})")
    axis.set_ylabel("fraction of workloads within tau")
    axis.set_ylim(-0.02, 1.02)
    axis.set_title(f"Performance profiles, {board.ruleset} tuning")
    axis.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    paths = [out_dir / "performance_profile.png", out_dir / "performance_profile.svg"]
    for path in paths:
        figure.savefig(path)
    plt.close(figure)
    return paths


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


def plot_curves(records: list[Mapping], out_dir: Path, ruleset: str | None = None) -> list[Path]:
    """Per workload, validation metric against submission time for every trial."""
    plt = _pyplot()
    by_workload: dict[str, list[Mapping]] = {}
    for record in records:
        if ruleset is None or record["ruleset"] == ruleset:
            by_workload.setdefault(record["workload"], []).append(record)
    paths = []
    for workload, group in sorted(by_workload.items()):
        spec = group[0]["workload_spec"]
        key = f"validation/{spec['target_metric']}"
        submissions = sorted({r["submission"] for r in group})
        colours = {s: plt.cm.tab10(i % 10) for i, s in enumerate(submissions)}
        figure, axis = plt.subplots(figsize=(6, 4))
        for record in group:
            points = [(row["submission_time"], row[key]) for row in record["evals"] if key in row]
            if not points:
                continue
            xs, ys = zip(*points)
            axis.plot(xs, ys, color=colours[record["submission"]], alpha=0.6, linewidth=1)
        for submission in submissions:
            axis.plot([], [], color=colours[submission], label=submission)
        axis.axhline(spec["validation_target"], color="black", linestyle="--", linewidth=1,
                     label="target")
        limits = curve_limits(group, spec)
        if limits:
            axis.set_ylim(*limits)
        axis.set_xlabel("submission time (s)")
        axis.set_ylabel(key)
        axis.set_title(f"{workload}: every trial")
        axis.legend(fontsize="small")
        figure.tight_layout()
        path = out_dir / f"curves_{workload}.png"
        figure.savefig(path)
        plt.close(figure)
        paths.append(path)
    return paths
