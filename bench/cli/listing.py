"""`bench list workloads` and `bench list submissions`."""

from __future__ import annotations

import click
from rich.table import Table

from bench import registry
from bench.cli.display import console, workloads_table
from bench.cli.output import print_json, print_table
from bench.submission import SubmissionError
from bench.workload import TIERS


@click.group(name="list")
def list_():
    """Show the available workloads or submissions."""


@list_.command(name="workloads")
@click.option("--tier", type=click.Choice(TIERS), help="Only this tier.")
@click.option("--details", "-d", is_flag=True, help="Also show the data and the model.")
@click.option("--json", "as_json", is_flag=True, help="Print every workload's spec as JSON.")
def list_workloads(tier, details, as_json):
    """Workloads with their tier, model size, target, budget and variants."""
    chosen = [w for w in registry.all_workloads().values() if not tier or w.spec.tier == tier]
    if as_json:
        print_json({"workloads": [w.spec.to_dict() for w in chosen],
                    "aliases": registry.workload_aliases()})
        return
    print_table(workloads_table(chosen, details), console)
    aliases = registry.workload_aliases()
    if aliases:
        console.print("Other names: " + ", ".join(f"{a} = {n}" for a, n in sorted(aliases.items())))


@list_.command(name="submissions")
@click.option("--json", "as_json", is_flag=True,
              help="Print each submission's summary, search space and default point as JSON.")
def list_submissions(as_json):
    """Submissions with their summary and whether they ship an external-tuning search space."""
    if as_json:
        print_json({"submissions": [submission_facts(name)
                                    for name in registry.submission_names()]})
        return
    table = Table(title="Submissions")
    for column in ("name", "summary", "search space", "hyperparameters"):
        table.add_column(column)
    for name in registry.submission_names():
        try:
            submission = registry.get_submission(name)
        except SubmissionError as error:
            table.add_row(name, f"[red]broken: {error}[/]", "", "")
            continue
        table.add_row(
            name,
            submission.summary,
            "yes" if submission.search_space_path else "no",
            ", ".join(submission.default_hparams),
        )
    print_table(table, console)


def submission_facts(name: str) -> dict:
    """What `bench list submissions --json` says of one submission."""
    try:
        submission = registry.get_submission(name)
    except SubmissionError as error:
        return {"name": name, "error": str(error)}
    return {"name": name, "summary": submission.summary,
            "search_space": submission.search_space_path,
            "default_hparams": submission.default_hparams, "error": None}
