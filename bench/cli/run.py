"""`bench run`: one trial of a submission on a workload, with a progress bar and a summary."""

from __future__ import annotations

import click

from bench import api, registry, results
from bench import rules as rules_module
from bench.describe import describe
from bench.cli.display import RunDisplay, console, print_run_summary
from bench.cli.errors import user_errors
from bench.cli.fake_data import fake_data_options, results_dir_for, with_fake_data
from bench.cli.output import print_json
from bench.protocol import ProtocolSettings
from bench.submission import load_hparams_file, parse_hparam_assignment


def hparam_overrides(hparams_file: str | None, assignments) -> dict:
    """The overrides of a --hparams file, then of each --hparam NAME=VALUE."""
    overrides = load_hparams_file(hparams_file) if hparams_file else {}
    for text in assignments:
        name, value = parse_hparam_assignment(text)
        overrides[name] = value
    return overrides


class TrialNumber(click.ParamType):
    """A trial number, or `auto`: the next free number of the study."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "auto":
            return value
        try:
            number = int(value)
        except ValueError:
            number = -1
        if number < 0:
            self.fail(f"{value!r} is neither a trial number (0, 1, ...) nor 'auto'", param, ctx)
        return number


@click.command()
@click.option("--workload", "-w", required=True, help="Workload name (see `bench list workloads`).")
@click.option(
    "--submission", "-s", required=True,
    help="Submission name (see `bench list submissions`) or a path to a submission.py.",
)
@click.option(
    "--hparams", "hparams_file", type=click.Path(dir_okay=False),
    help="JSON file of hyperparameters overriding the submission's default point.",
)
@click.option(
    "--hparam", "assignments", multiple=True, metavar="NAME=VALUE",
    help="Override one hyperparameter (repeatable); VALUE is read as JSON.",
)
@click.option("--seed", default=0, show_default=True, help="Seed for initialisation and data order.")
@click.option("--study", default=0, show_default=True, help="Study number in the record layout.")
@click.option("--trial", default=0, show_default=True, type=TrialNumber(),
              help="Trial number in the record layout; auto: the next free one of the study "
                   "(to try other hyperparameters without picking a number).")
@click.option(
    "--results-dir", type=click.Path(file_okay=False),
    help=f"Where trial records are written (default: {api.DEFAULT_RESULTS_DIR}; "
         "results-fake with --fake-data).",
)
@click.option(
    "--max-runtime", type=click.FloatRange(min=0, min_open=True),
    help="Budget in seconds of submission time (default: the workload's).",
)
@click.option(
    "--eval-period", type=click.FloatRange(min=0, min_open=True),
    help="Seconds of submission time between evaluations (default: the workload's).",
)
@click.option(
    "--max-steps", type=click.IntRange(min=1), help="Also stop after this many steps (quick checks)."
)
@click.option("--rules", "rules_version", type=click.Choice(rules_module.versions()),
              help="Rules version whose step hint, budget and targets the trial runs under "
                   f"(default: by the workload's tier, {rules_module.defaults_in_words()}).")
@click.option("--data-dir", type=click.Path(), help="Prepared tensorflow-datasets directory (full tier).")
@click.option("--force", is_flag=True, help="Run again even if a record exists (the old one is kept aside).")
@click.option("--checkpoint-every", default=60.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="Wall-clock seconds between checkpoints of the running trial (for resuming).")
@click.option("--json", "as_json", is_flag=True,
              help="No progress bar; print the record's path and the record as JSON.")
@fake_data_options
@user_errors
def run(workload, submission, hparams_file, assignments, seed, study, trial, results_dir,
        max_runtime, eval_period, max_steps, rules_version, data_dir, force, checkpoint_every,
        as_json, fake_data, model_size):
    """Run one trial: train SUBMISSION on WORKLOAD until the target or the budget.

    The record goes to RESULTS_DIR/single/<submission>/<workload>/study_<k>/trial_<n>.json.
    Running a finished trial again is skipped; the record already there is summarised. An
    interrupted one resumes from its checkpoint ("resuming from step N"). Exits with status 1
    when the trial ends in `error`. A contributed submission (a path) runs in a process of its
    own, without a progress bar: this process never imports contributed code.
    """
    overrides = hparam_overrides(hparams_file, assignments)
    (workload,) = with_fake_data([registry.get_workload(workload)], fake_data, model_size, data_dir)
    rules_version = rules_version or rules_module.default_version(workload.spec.tier)
    settings = ProtocolSettings(max_runtime=max_runtime, eval_period=eval_period,
                                max_steps=max_steps, rules=rules_version)
    rules_module.apply(rules_module.load(rules_version), workload.spec)  # refuses one not in V
    results_dir = results_dir_for(results_dir, fake_data, api.DEFAULT_RESULTS_DIR)
    shipped = registry.submission_location(submission)[2]  # shipped ones are trusted
    submission = registry.get_submission(submission) if shipped else describe(submission)
    if trial == "auto":
        trial = results.next_trial(results_dir, "single", submission.name, workload.name, study)
    common = dict(hparams=overrides, seed=seed, study=study, trial=trial, results_dir=results_dir,
                  settings=settings, data_dir=data_dir, force=force,
                  checkpoint_every=checkpoint_every)
    if shipped:
        with RunDisplay(workload.name, quiet=as_json) as display:
            outcome = api.run(workload, submission, on_progress=display, **common)
    else:  # contributed code is never imported here: it trains in a process of its own
        if not as_json:
            console.print(f"{submission.name} is a contributed submission: training it in a "
                          "separate process", markup=False)
        outcome = api.run_in_own_process(workload, submission, **common)
    if as_json:
        print_json({"path": outcome.path, "skipped": outcome.skipped,
                    "resumed_from_step": outcome.resumed_from_step, "notes": outcome.notes,
                    "record": outcome.record})
        raise SystemExit(1 if outcome.record["outcome"] == "error" else 0)
    print_run_summary(outcome)
    if outcome.record["outcome"] == "error":
        console.print(outcome.record["message"], markup=False)
        raise SystemExit(1)  # the submission failed: a script running this must notice
