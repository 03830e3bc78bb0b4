"""Results for other tools and for readers: `bench export` (data frames as CSV or Parquet) and
`bench report` (a static HTML leaderboard page)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench import api, results as results_module, scoring, tuning
from bench.cli.display import console
from bench.cli.errors import user_errors


@click.command()
@click.argument("results", nargs=-1, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(results_module.FORMATS), default="csv",
              show_default=True, help="File format of the two tables.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Where trials.<format> and evals.<format> go (default: <first RESULTS>/export).")
@click.option("--no-validate", is_flag=True,
              help="Do not check the records against their JSON Schema.")
@user_errors
def export(results, fmt, out_dir, no_validate):
    """Export the records under RESULTS (default: results/) as two tables.

    trials: one row per trial (outcome, time and steps to target, totals, target, hardware, one
    hparam.<name> column per hyperparameter). evals: the evaluation curves, one row per trial,
    evaluation and metric. The same tables as `bench.results.load` in Python.
    """
    results = results or (api.DEFAULT_RESULTS_DIR,)
    first = Path(results[0])
    out = out_dir or str((first if first.is_dir() else first.parent) / "export")
    paths = results_module.export(results, out, format=fmt, validate=not no_validate)
    console.print(f"wrote {', '.join(str(p) for p in paths)}", markup=False)


@click.command()
@click.argument("results", nargs=-1, type=click.Path(exists=True))
@click.option("--out", "out_dir", default="site", show_default=True,
              type=click.Path(file_okay=False),
              help="Folder for index.html and copies of the records it links to.")
@click.option("--ruleset", type=click.Choice(tuning.RULESETS + ("single",)),
              help="Ruleset to show (required when the records hold several).")
@click.option("--measure", type=click.Choice(scoring.MEASURES), default="time", show_default=True)
@click.option("--mixed-hardware", is_flag=True,
              help="Allow records from different machines (only with --measure steps).")
@click.option("--bootstrap", default=1000, show_default=True, help="Bootstrap samples for the CIs.")
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap.")
@user_errors
def report(results, out_dir, ruleset, measure, mixed_hardware, bootstrap, seed):
    """Write the leaderboard of RESULTS (default: results/) as a static HTML page.

    One self-contained file, OUT/index.html (no server, nothing fetched): the sortable
    leaderboard, the performance profile, every workload's curves, the protocol, rules version
    and hardware, and links to the records (copied under OUT/records/).
    """
    from bench import report_html

    results = results or (api.DEFAULT_RESULTS_DIR,)
    command = "bench " + " ".join(sys.argv[1:]) if sys.argv[1:] else None
    page = report_html.build(results, out_dir, ruleset=ruleset, measure=measure,
                             mixed_hardware=mixed_hardware, bootstrap_samples=bootstrap,
                             seed=seed, command=command)
    console.print(f"wrote {page}; open {page.resolve().as_uri()} in a browser", markup=False)
