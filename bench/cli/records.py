"""Commands over trial records: `score`, `compare` and `import-algoperf`."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click
from rich.table import Table

from bench import api, compare as compare_module, reporting, scoring, trust, tuning
from bench import rules as rules_module
from bench.cli.display import console
from bench.cli.output import print_json, print_table
from bench.cli.errors import user_errors
from bench.trial.record import load_records


@click.command()
@click.argument("results", nargs=-1, type=click.Path(exists=True))
@click.option("--ruleset", type=click.Choice(tuning.RULESETS + ("single",)),
              help="Ruleset to score (required when the records hold several).")
@click.option("--rules", "rules_version", type=click.Choice(rules_module.versions()),
              help="Rules version to score (required when the records hold several).")
@click.option("--measure", type=click.Choice(scoring.MEASURES), default="time", show_default=True,
              help="Rank by submission time or by steps to the target.")
@click.option("--mixed-hardware", is_flag=True,
              help="Allow records from different machines (only with --measure steps).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Write leaderboard.md/.csv/.json and plots here (default: <first RESULTS>/leaderboard).")
@click.option("--bootstrap", default=1000, show_default=True, help="Bootstrap samples for the CIs.")
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--json", "as_json", is_flag=True,
              help="Print leaderboard.json (scores, intervals, profiles, rows) instead of the table.")
@click.option("--skip-invalid", is_flag=True,
              help="List the files that are not valid records and score the rest (default: "
                   "refuse, naming every one).")
@click.option("--allow-stale", is_flag=True,
              help="Also score records measured under other definitions (schema, target, "
                   "workload hash); the leaderboard marks them.")
@user_errors
def score(results, ruleset, rules_version, measure, mixed_hardware, out_dir, bootstrap, seed,
          as_json, skip_invalid, allow_stale):
    """Score the records under RESULTS (directories or record files; default: results/).

    Under the rules version the records name (never several at once): per workload the median
    over studies of each study's chosen trial to target; ratios to the best submission; the
    performance profile and the benchmark score (area under it from 1 to 4). Records measured
    under other definitions than this checkout's are refused (see `bench.trust`), unless
    --allow-stale.
    """
    results = results or (api.DEFAULT_RESULTS_DIR,)
    records, problems = load_records(results, skip_invalid=skip_invalid)
    for _, problem in problems:  # on stderr: --json keeps stdout for the leaderboard
        click.echo(f"skipped invalid {problem}", err=True)
    vouched = trust.vouch(records, allow_stale=allow_stale)
    for refusal in vouched.refused:
        click.echo(f"refused {refusal}", err=True)
    if vouched.refused and not allow_stale and vouched.stale:
        click.echo("(score stale records anyway with --allow-stale)", err=True)
    records = vouched.accepted
    board = scoring.score(records, ruleset=ruleset, rules=rules_version, measure=measure,
                          mixed_hardware=mixed_hardware, bootstrap_samples=bootstrap, seed=seed)
    if allow_stale and vouched.stale:
        board.warnings.append(f"{len(vouched.stale)} stale record(s) included (--allow-stale): "
                              + "; ".join(str(refusal) for refusal in vouched.stale[:5]))
    out = out_dir or f"{results[0]}/leaderboard/{board.ruleset}"
    command = "bench " + " ".join(sys.argv[1:]) if sys.argv[1:] else None
    paths = reporting.write_leaderboard(board, out, records, command=command)
    if as_json:
        leaderboard = json.loads((Path(out) / "leaderboard.json").read_text())
        print_json({**leaderboard, "files": [str(p) for p in paths]})
        return
    print_table(reporting.rich_table(board), console)
    for warning in board.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"wrote {', '.join(p.name for p in paths)} to {out}")


@click.command()
@click.argument("a", type=click.Path(exists=True))
@click.argument("b", type=click.Path(exists=True))
@click.option("--measure", type=click.Choice(scoring.MEASURES), default="time", show_default=True)
@click.option("--by-trial", is_flag=True,
              help="Pair the same trials (same place and seed) run twice, on two machines, "
                   "settings or commits, and show how B's clock counted each against A's.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@user_errors
def compare(a, b, measure, by_trial, as_json):
    """Compare two results sets A and B (directories or record files) per workload.

    Ratio is B's median over A's: below 1 means B reaches the target faster. With --by-trial,
    B's submission seconds a step over A's, trial by trial (to the target when it hit, over the
    whole budget when it missed): 1 when B's clock counts the same training as A's did.
    """
    if by_trial:
        compare_trials(load_records([a])[0], load_records([b])[0], a, b, as_json)
        return
    rows = compare_module.compare(load_records([a])[0], load_records([b])[0], measure)
    if as_json:
        print_json({"a": a, "b": b, "measure": measure, "rows": [compared_row(r) for r in rows]})
        return
    table = Table(title=f"A = {a}   B = {b}   ({measure} to target, median over studies)")
    for column in ("ruleset", "workload", "A", "B", "time A", "time B", "B/A", "change"):
        table.add_column(column, justify="right" if column.startswith(("time", "B/")) else "left")
    styles = {"faster": "green", "now hits": "green", "slower": "red", "now misses": "red"}
    for row in rows:
        ratio = "-" if row.ratio != row.ratio else f"{row.ratio:.2f}"
        style = styles.get(row.change, "")
        change = f"[{style}]{row.change}[/]" if style else row.change
        table.add_row(
            row.ruleset, row.workload, row.submission_a or "-", row.submission_b or "-",
            reporting.format_value(row.a.median, measure) if row.a else "-",
            reporting.format_value(row.b.median, measure) if row.b else "-",
            ratio, change,
        )
    print_table(table, console)


def compare_trials(records_a, records_b, a, b, as_json) -> None:
    """`bench compare --by-trial`: one row a trial in both sets, then the ratios' median."""
    pairs = compare_module.paired_trials(records_a, records_b)
    if not pairs:
        raise click.ClickException(f"no trial of {a} is in {b} with the same seed: --by-trial "
                                   "pairs the same trials run twice")
    summary = compare_module.summarize_pairs(pairs)
    if as_json:
        print_json({"a": a, "b": b, "pairs": [dataclasses.asdict(p) for p in pairs],
                    "summary": summary})
        return
    table = Table(title=f"A = {a}   B = {b}   (submission seconds a step, B/A)")
    for column in ("submission", "workload", "study", "trial", "A", "B", "B/A"):
        table.add_column(column, justify="right" if column in ("study", "trial", "B/A") else "left")
    for p in pairs:
        table.add_row(p.submission, p.workload, str(p.study), str(p.trial), p.outcome_a,
                      p.outcome_b, "-" if p.ratio != p.ratio else f"{p.ratio:.3f}")
    print_table(table, console)
    for name, stats in summary.items():
        if stats["n"]:
            console.print(f"{name}: {stats['n']} trials, B/A median {stats['median']:.3f} "
                          f"(range {stats['low']:.3f}-{stats['high']:.3f})")


@click.command(name="import-algoperf")
@click.argument("logs", type=click.Path(exists=True, file_okay=False))
@click.option("--results-dir", default=api.DEFAULT_RESULTS_DIR, show_default=True,
              type=click.Path(file_okay=False), help="Where the imported records go.")
@click.option("--rules", "rules_version", default="algoperf-v0.6", show_default=True,
              type=click.Choice(rules_module.versions()),
              help="Rules version the logs were run under (its workloads and targets apply).")
@click.option("--ruleset", type=click.Choice(tuning.RULESETS),
              help="Ruleset, when the log folders do not say (external_tuning/self_tuning).")
@click.option("--submission", help="Submission name, when the log folders do not say.")
@user_errors
def import_algoperf(logs, results_dir, rules_version, ruleset, submission):
    """Import AlgoPerf experiment logs (eval_measurements.csv per trial) as bench records.

    Expects LOGS/<ruleset>_tuning/<submission>/study_<k>/<workload>_<framework>/trial_<n>/.
    Other folders holding measurements are listed and skipped. The records can then be scored
    and compared like any others.
    """
    from bench.algoperf_import import import_logs

    result = import_logs(logs, results_dir, ruleset=ruleset, submission=submission,
                         rules=rules_version)
    for skipped in result.skipped:
        click.echo(f"skipped {skipped}")
    click.echo(f"imported {len(result.written)} trial(s) into {results_dir} under {rules_version} "
               f"({result.kept} already there, {len(result.skipped)} folder(s) skipped)")


def compared_row(row) -> dict:
    """One row of `bench compare --json`: both sides' medians and studies, the ratio B/A."""

    def side(entry):
        if entry is None:
            return None
        return {"median": entry.median, "studies": list(entry.study_values),
                "trials": entry.trials, "hits": entry.hits}

    return {"ruleset": row.ruleset, "workload": row.workload, "submission_a": row.submission_a,
            "submission_b": row.submission_b, "a": side(row.a), "b": side(row.b),
            "ratio": row.ratio, "change": row.change}
