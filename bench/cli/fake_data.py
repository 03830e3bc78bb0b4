"""`--fake-data` and `--model-size` of `bench run` and `bench study`: smoke runs without data.

With `--fake-data` each workload is replaced by its `fake(model_size)` copy (see
`bench.workload`): synthetic inputs of the true shapes, made in memory, through the workload's
own pipeline, model, loss and metric; `--model-size tiny` (the default) also shrinks the model
and the batch so that `bench run -w W -s S --fake-data --max-steps 20` takes seconds on a
laptop. Records of fake runs go to FAKE_RESULTS_DIR unless --results-dir says otherwise, apart
from those of real runs, and their workload spec names the synthetic data.
"""

from __future__ import annotations

import click

from bench.workload import MODEL_SIZES, Workload

FAKE_RESULTS_DIR = "results-fake"


def fake_data_options(command):
    """Add --fake-data and --model-size to a command (its function takes both arguments)."""
    command = click.option(
        "--model-size", type=click.Choice(MODEL_SIZES), default="tiny", show_default=True,
        help="With --fake-data: tiny (small model and batch, for a CPU) or full (the real "
             "model and batch size, for an accelerator).",
    )(command)
    return click.option(
        "--fake-data", is_flag=True,
        help="Train and evaluate on synthetic data of the workload's true shapes (a smoke "
             "test: no dataset needed; records go to results-fake/ by default).",
    )(command)


def with_fake_data(workloads: list[Workload], fake_data: bool, model_size: str,
                   data_dir: str | None) -> list[Workload]:
    """The workloads, or their fake copies with --fake-data; one-line errors for misuse."""
    if not fake_data:
        return workloads
    if data_dir:
        raise click.UsageError("--fake-data reads no dataset: drop --data-dir")
    fakes = []
    for workload in workloads:
        try:
            fakes.append(workload.fake(model_size))
        except NotImplementedError:
            raise click.UsageError(
                f"workload {workload.name} has no fake-data form (only full-tier workloads do; "
                "the cpu tier's data needs no download)"
            ) from None
    return fakes


def results_dir_for(results_dir: str | None, fake_data: bool, default: str) -> str:
    """--results-dir if given, else FAKE_RESULTS_DIR for fake runs and `default` for real ones."""
    if results_dir is not None:
        return results_dir
    return FAKE_RESULTS_DIR if fake_data else default
