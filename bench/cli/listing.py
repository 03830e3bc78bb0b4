"""`bench list workloads` and `bench list submissions`."""

from __future__ import annotations

import click
from rich.table import Table

from bench import registry
from bench.cli.display import console, workloads_table
from bench.submission import SubmissionError


@click.group(name="list")
def list_():
    """Show the available workloads or submissions."""


@list_.command(name="workloads")
@click.option("--tier", type=click.Choice(["cpu", "full"]), help="Only this tier.")
@click.option("--details", "-d", is_flag=True, help="Also show the data and the model.")
def list_workloads(tier, details):
    """Workloads with their tier, model size, target, budget and variants."""
    chosen = [w for w in registry.all_workloads().values() if not tier or w.spec.tier == tier]
    console.print(workloads_table(chosen, details))
    aliases = registry.workload_aliases()
    if aliases:
        console.print("Other names: " + ", ".join(f"{a} = {n}" for a, n in sorted(aliases.items())))


@list_.command(name="submissions")
def list_submissions():
    """Submissions with their summary and whether they ship an external-tuning search space."""
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
    console.print(table)
