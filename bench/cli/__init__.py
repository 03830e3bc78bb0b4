"""The `bench` command line: a thin Click layer over the Python API.

Every command parses its options, calls the API and displays the result with Rich. One module
per concern: `run` and `study` train, `prepare` turns raw data into a workload's files,
`records` scores and compares, `review` checks contributed submissions, `listing` lists,
`science` holds the schedule-science and calibration commands, `display` draws, and `errors`
turns errors a user can fix into one line with exit status 2.
"""

from __future__ import annotations

import click

from bench import environment
from bench.cli import completion, data, listing, prepare, records, review, run, science, study


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bench")
@click.option("--coordinator", metavar="HOST:PORT",
              help="Multi-host runs: address of process 0 (jax.distributed); run the same "
                   "command on every host with its --process-id.")
@click.option("--num-processes", type=click.IntRange(min=1), help="Multi-host: number of hosts.")
@click.option("--process-id", type=click.IntRange(min=0), help="Multi-host: this host's index.")
def main(coordinator, num_processes, process_id):
    """Benchmark neural-network training algorithms by time to result.

    A submission (an optimizer and its schedule) trains a workload (a model, its data and a
    validation target) until it reaches the target or runs out of budget. Only submission
    time is counted: evaluation and compilation are timed apart. Start with

        bench list workloads
        bench run --workload mnist1d --submission nadamw

    Compiled programs are cached under $BENCH_CACHE_DIR (default ~/.cache/bench; set
    BENCH_COMPILE_CACHE=0 to turn the cache off).
    """
    environment.initialize_distributed(coordinator, num_processes, process_id)
    environment.enable_compilation_cache()


for _command in (
    run.run, study.study, records.score, records.compare, review.check, review.ci,
    records.import_algoperf, listing.list_, science.refine, science.sensitivity, science.predict,
    science.set_targets, data.export, data.report, completion.completion, prepare.prepare,
):
    main.add_command(_command)
