"""What the command line shows: Rich progress bars, tables and summaries.

Nothing here runs or decides anything; each function turns results of the Python API into
something to print on `console`.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.cli.output import print_table

console = Console(highlight=False, soft_wrap=True)  # lines (commands) never hard-wrapped

METRIC_ABBREVIATIONS = {"accuracy": "acc", "mean_average_precision": "mAP"}


def format_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def format_number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def format_budget(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 120:
        return f"{seconds / 60:.0f}min"
    return f"{seconds:g}s"


def format_target(spec) -> str:
    direction = ">=" if spec.higher_is_better else "<="
    metric = METRIC_ABBREVIATIONS.get(spec.target_metric, spec.target_metric)
    return f"{metric} {direction} {spec.validation_target:g}"


# ------------------------------------------------------------------------------ one trial


class RunDisplay:
    """A Rich progress bar over submission time (or steps, when those bound the trial).

    The bar appears with the first progress report, so an error raised before training (a bad
    hyperparameter, a conflicting record) is shown without an empty bar above it.
    """

    def __init__(self, workload_name: str, quiet: bool = False):
        self.workload_name = workload_name
        self.quiet = quiet  # no bar at all (--json output)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[clock]}"),
            TextColumn("step {task.fields[step]}"),
            TextColumn("{task.fields[metric]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task = None
        self.metric = "compiling"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.task is not None:
            return self.progress.__exit__(*exc)
        return None

    def _start(self):
        self.progress.__enter__()
        self.task = self.progress.add_task(
            self.workload_name, total=1.0, clock="", step=0, metric=self.metric
        )

    def __call__(self, snapshot):
        if self.quiet:
            return
        if self.task is None:
            self._start()
        fraction = snapshot.submission_time / snapshot.max_runtime
        if snapshot.max_steps:
            fraction = max(fraction, snapshot.step / snapshot.max_steps)
        if snapshot.last_eval is not None:
            values = [
                f"{key.split('/', 1)[1]} {value:.4f}"
                for key, value in snapshot.last_eval.items()
                if key.startswith("validation/")
            ]
            self.metric = "val " + ", ".join(values)
        elif snapshot.event == "compiled":
            self.metric = "evaluating"
        elif snapshot.event == "resumed":
            self.progress.console.print(f"resuming from step {snapshot.step} (checkpoint)")
        self.progress.update(
            self.task,
            completed=min(fraction, 1.0),
            clock=f"{snapshot.submission_time:.1f}/{snapshot.max_runtime:.0f}s",
            step=snapshot.step,
            metric=self.metric,
        )


def eval_summary_table(record: dict, max_rows: int = 8) -> Table:
    """A few evaluations of the curve (first, evenly spaced, last) as a table."""
    evals = record["evals"]
    metric = record["workload_spec"]["target_metric"]
    clock = " in reference seconds" if in_reference_seconds(record) else ""
    table = Table(title=f"Evaluation curve (submission time{clock}; eval time not counted)")
    table.add_column("step", justify="right")
    table.add_column("time", justify="right")
    table.add_column("train loss", justify="right")
    table.add_column("val loss", justify="right")
    table.add_column(f"val {metric}", justify="right")
    with_test = any(f"test/{metric}" in row for row in evals)  # at every evaluation, or the last
    if with_test:
        table.add_column(f"test {metric}", justify="right")
    if len(evals) <= max_rows:
        chosen = evals
    else:
        index = {round(i * (len(evals) - 1) / (max_rows - 1)) for i in range(max_rows)}
        chosen = [evals[i] for i in sorted(index)]
    for row in chosen:
        cells = [
            str(int(row["step"])),
            format_seconds(row["submission_time"]),
            f"{row['train/loss']:.4f}" if "train/loss" in row else "-",
            f"{row.get('validation/loss', math.nan):.4f}",
            f"{row[f'validation/{metric}']:.4f}",
        ]
        if with_test:
            cells.append(f"{row[f'test/{metric}']:.4f}" if f"test/{metric}" in row else "-")
        table.add_row(*cells)
    return table


def print_run_summary(outcome) -> None:
    """The evaluation curve, outcome and time split of one trial (`api.RunOutcome`)."""
    record = outcome.record
    spec = record["workload_spec"]
    direction = ">=" if spec["higher_is_better"] else "<="
    target = f"validation {spec['target_metric']} {direction} {spec['validation_target']}"
    colour = {"hit": "green", "budget": "yellow"}.get(record["outcome"], "red")
    if outcome.skipped:
        console.print(f"[bold]skipped:[/] this trial already ran; its record is {outcome.path}")
    for note in getattr(outcome, "notes", ()):
        console.print(f"[yellow]note:[/] {note}")
    if getattr(outcome, "resumed_from_step", None) is not None:
        console.print(f"resumed from step {outcome.resumed_from_step}")
    print_table(eval_summary_table(record), console)
    console.print(
        f"[bold]{record['submission']}[/] on [bold]{record['workload']}[/]: "
        f"[{colour}]{record['outcome'].upper()}[/] (target {target})"
    )
    if record["outcome"] == "hit":
        console.print(f"  time to target {record['time_to_target']:.2f}{seconds(record)} of "
                      f"submission time, {record['steps_to_target']} steps")
    elif record["message"]:
        console.print(f"  {record['message'].splitlines()[0]}")
    for line in time_split(record):
        console.print(f"  {line}", markup=False)
    console.print(f"  record: {outcome.path}")


def in_reference_seconds(record) -> bool:
    """Whether the record's submission time is in reference seconds (it has a `clock_rate`)."""
    return record.get("clock_rate") is not None


def seconds(record) -> str:
    """The unit of a record's submission time: "s", or " reference s"."""
    return " reference s" if in_reference_seconds(record) else "s"


def time_split(record) -> list[str]:
    """Where a trial's seconds went, saying which clock counts each: under a clock in reference
    seconds (`clock_rate` in the record) the submission time is the reference machine's, and
    evaluation, compilation and wall time are this machine's."""
    counted = (f"submission time {record['submission_time']:.1f}{seconds(record)} over "
               f"{record['steps']} steps")
    apart = (f"eval {record['eval_time']:.1f}s and compile {record['compile_time']:.1f}s not "
             f"counted; wall {record['wall_time']:.1f}s")
    if not in_reference_seconds(record):
        return [f"{counted}; {apart}"]
    counted += (f" (this machine took {record['clock_rate']:.2f}x the seconds of the one that set "
                "the budget)")
    return [counted, f"{apart} (this machine's seconds)"]


# ---------------------------------------------------------------------------------- study


class StudyDisplay:
    """One progress bar over a study's trials, and a line per finished trial.

    Use it as a context manager and pass it as `on_trial(index, total, planned, outcome)`.
    """

    def __init__(self, total: int):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console,
        )
        self.total = total
        self.counts: dict[str, int] = {}
        self.task = None

    def __enter__(self):
        self.progress.__enter__()
        self.task = self.progress.add_task("study", total=self.total, status="")
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def status(self, text: str) -> None:
        self.progress.update(self.task, status=text)

    def __call__(self, index, total, planned, outcome):
        """`outcome`: None before the trial, then its RunOutcome, or the TrialBusyError of a
        trial another process is training."""
        name = f"{planned.workload.name} study {planned.study} trial {planned.trial}"
        if outcome is None:
            self.status(f"running {name}")
            return
        if isinstance(outcome, Exception):
            self.counts["busy"] = self.counts.get("busy", 0) + 1
            self.progress.update(self.task, advance=1)
            self.progress.console.print(f"  {name}: busy, left to the process training it",
                                        markup=False)
            return
        label = "skipped" if outcome.skipped else outcome.record["outcome"]
        self.counts[label] = self.counts.get(label, 0) + 1
        summary = ", ".join(f"{count} {key}" for key, count in sorted(self.counts.items()))
        self.progress.update(self.task, advance=1, status=summary)
        detail = outcome.record.get("time_to_target")
        resumed = outcome.resumed_from_step
        self.progress.console.print(
            f"  {name}: {label}"
            + (f" in {detail:.2f}{seconds(outcome.record)}" if label == "hit" else "")
            + (f" (resumed from step {resumed})" if resumed is not None else "")
        )
        for note in outcome.notes:
            self.progress.console.print(f"    note: {note}", markup=False)


# ---------------------------------------------------------------------------------- lists


def workloads_table(workloads, details: bool) -> Table:
    """Workloads with their tier, model size, target, budget, step hint and variant."""
    table = Table(title="Workloads (budget: seconds of submission time, in reference seconds under "
                        "the cpu tier's default rules; steps: step hint)")
    table.add_column("name", no_wrap=True, min_width=12)
    table.add_column("tier", no_wrap=True, min_width=4)
    if details:
        table.add_column("data")
        table.add_column("model")
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("target (valid.)", no_wrap=True)
    table.add_column("budget", justify="right", no_wrap=True)
    table.add_column("steps", justify="right", no_wrap=True)
    table.add_column("variant of", no_wrap=True)
    for workload in workloads:
        spec = workload.spec
        cells = [spec.name, spec.tier]
        if details:
            cells += [spec.dataset, spec.model]
        cells += [parameter_count(workload), format_target(spec),
                  format_budget(spec.max_runtime), str(spec.step_hint), spec.variant_of or ""]
        table.add_row(*cells)
    return table


def parameter_count(workload) -> str:
    """Parameters of the model, from shapes only (nothing is allocated or loaded)."""
    import jax
    import numpy as np

    try:
        params, _ = jax.eval_shape(workload.init, jax.random.key(0))
    except Exception:  # a workload whose init needs its data loaded first
        return "-"
    count = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params))
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if count >= size:
            value = count / size
            return f"{value:.0f}{unit}" if value >= 100 else f"{value:.1f}{unit}"
    return str(count)


def checks_table(title: str, results) -> Table:
    """`bench check`'s results: one row per check, pass or FAIL, and its detail."""
    table = Table(title=title)
    for column in ("check", "result", "detail"):
        table.add_column(column)
    for result in results:
        mark = "[green]pass[/]" if result.ok else "[red]FAIL[/]"
        table.add_row(result.name, mark, result.detail)
    return table
