"""`bench prepare WORKLOAD --raw DIR --data-dir DIR`: turn downloaded raw data into the files a
workload reads, following AlgoPerf's preprocessing (see the workload module's `prepare`).

For workloads whose data tfds cannot build without TensorFlow or does not have at all
(criteo1tb, fastmri, ...). Workloads read from tfds (mnist, cifar10, imagenet, ogbg) are
prepared with `tfds build` instead; the command says so.
"""

from __future__ import annotations

import click

from bench import registry
from bench.cli.display import console
from bench.cli.errors import UserError, user_errors


@click.command()
@click.argument("workload")
@click.option("--raw", "raw_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of the downloaded raw data (see the README's data section).")
@click.option("--data-dir", required=True, type=click.Path(file_okay=False),
              help="Where the prepared data goes (pass the same --data-dir to `bench run`).")
@user_errors
def prepare(workload, raw_dir, data_dir):
    """Prepare WORKLOAD's data from the raw files in RAW into DATA_DIR (once, before any run)."""
    preparer = registry.dataset_preparer(workload)
    if preparer is None:
        raise UserError(
            f"workload {workload} reads a tensorflow-datasets dataset: prepare it with `tfds "
            "build` (the error of `bench run` names the exact command; it needs TensorFlow)"
        )
    try:
        sizes = preparer(raw_dir, data_dir)
    except (FileNotFoundError, ValueError) as error:
        raise UserError(str(error)) from None
    counts = ", ".join(f"{split} {count:,}" for split, count in sizes.items())
    console.print(f"prepared {workload} under {data_dir}: {counts} examples")
