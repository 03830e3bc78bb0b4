"""`bench study`: every trial of a tuning ruleset, on this machine or on a cluster."""

from __future__ import annotations

import shlex
import sys

import click

from bench import api, cluster, registry, tuning
from bench import rules as rules_module
from bench.cli.display import StudyDisplay, console
from bench.cli.errors import UserError, user_errors
from bench.cli.fake_data import fake_data_options, results_dir_for, with_fake_data
from bench.describe import describe
from bench.protocol import ProtocolSettings
from bench.workload import TIERS


@click.command()
@click.option("--submission", "-s", required=True, help="Submission name or path.")
@click.option(
    "--workload", "-w", "workload_names", multiple=True,
    help="Workload (repeatable). Default: every workload of --tier.",
)
@click.option("--tier", type=click.Choice(TIERS), default="cpu", show_default=True,
              help="Tier whose workloads run when no --workload is given.")
@click.option("--ruleset", type=click.Choice(tuning.RULESETS), default="external",
              show_default=True, help="external: quasi-random search; self: default point only.")
@click.option("--rules", "rules_version", type=click.Choice(rules_module.versions()),
              help="Rules version: its studies, trials, budgets, step hints and targets "
                   f"(default: by the workloads' tier, {rules_module.defaults_in_words()}).")
@click.option("--studies", type=click.IntRange(min=1),
              help="Independent studies, their median the workload time (default: the rules').")
@click.option("--trials", type=click.IntRange(min=1),
              help="Trials per study (default 5 for external tuning; always 1 for self-tuning).")
@click.option("--seed-offset", default=0, show_default=True, type=click.IntRange(min=0),
              help="Added to every trial seed (and to the seed of external search-space draws): "
                   "an independent run of the same studies; use multiples of "
                   f"{tuning.RUN_SEED_STRIDE:,} and a results directory of its own.")
@click.option("--search-space", type=click.Path(dir_okay=False),
              help="Search space file instead of the submission's (AlgoPerf's format: an object "
                   "of ranges and feasible points, or a list of points).")
@click.option("--results-dir", type=click.Path(file_okay=False),
              help=f"Where trial records are written (default: {api.DEFAULT_RESULTS_DIR}; "
                   "results-fake with --fake-data).")
@click.option("--max-runtime", type=click.FloatRange(min=0, min_open=True),
              help="Budget per trial in seconds of submission time (default: the workload's, "
                   "times 3 for self-tuning).")
@click.option("--max-steps", type=click.IntRange(min=1), help="Also stop trials after this many steps.")
@click.option("--data-dir", type=click.Path(), help="Prepared tensorflow-datasets directory.")
@click.option("--isolate/--in-process", default=True, show_default=True,
              help="Run each trial in its own process, so crashes and hangs become records.")
@click.option("--jobs", "-j", type=click.IntRange(min=1),
              help="Trials run at once: isolated processes on this machine, one device each "
                   "(default 1; on CPU each process kept to its share of the cores: use 1 "
                   "for timings you publish), "
                   "or array jobs on a cluster (default: as many as the cluster runs).")
@click.option("--trial-timeout", type=click.FloatRange(min=0, min_open=True),
              help="Wall-clock seconds before an isolated trial is stopped (default: 5x its "
                   "budget + 10 minutes); on a cluster, each job's time limit (default: 1.5x "
                   "the budget + 15 minutes).")
@click.option("--checkpoint-every", default=60.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="Wall-clock seconds between checkpoints of a running trial (what a cancelled, "
                   "preempted or killed trial resumes from).")
@click.option("--backend", type=click.Choice(tuning.STUDY_BACKENDS),
              default="processes", show_default=True,
              help="processes: on this machine. slurm: one submitit job per trial on a SLURM "
                   "cluster (results dir on a shared file system). submitit-local: the same "
                   "jobs as local processes.")
@click.option("--slurm-partition", help="SLURM partition for --backend slurm.")
@click.option("--gpus-per-node", type=click.IntRange(min=0), help="GPUs per job (--backend slurm).")
@click.option("--cpus-per-task", type=click.IntRange(min=1), help="CPUs per job (--backend slurm).")
@click.option("--slurm-account", help="SLURM account the jobs are charged to.")
@click.option("--slurm-qos", help="SLURM quality of service of the jobs.")
@click.option("--sbatch-flag", "sbatch_flags", multiple=True, metavar="--NAME[=VALUE]",
              help="Further sbatch flag for every job, e.g. --sbatch-flag=--constraint=a100 "
                   "(repeatable).")
@fake_data_options
@user_errors
def study(submission, workload_names, tier, ruleset, rules_version, studies, trials, seed_offset,
          search_space,
          results_dir, max_runtime, max_steps, data_dir, isolate, jobs, trial_timeout,
          checkpoint_every, backend,
          slurm_partition, gpus_per_node, cpus_per_task, slurm_account, slurm_qos, sbatch_flags,
          fake_data, model_size):
    """Run the studies of a tuning ruleset for SUBMISSION; finished trials are skipped.

    Records go to RESULTS_DIR/<ruleset>/<submission>/<workload>/study_<k>/trial_<n>.json, so an
    interrupted study resumes where it stopped. Score them with `bench score`. Under --rules V the
    trials get V's step hints, budgets (times its self-tuning factor) and targets, and their
    records name V. A contributed submission (a path) is never imported here: its trials run in
    processes of their own.
    """
    if isolate or (jobs or 1) > 1 or backend != "processes":
        submission_obj = describe(submission)
    elif registry.submission_location(submission)[2]:
        submission_obj = registry.get_submission(submission)
    else:
        raise UserError("a contributed submission runs only in trial processes of its own; "
                        "drop --in-process")
    if workload_names:
        workloads = [registry.get_workload(name) for name in workload_names]
    else:
        workloads = [w for w in registry.all_workloads().values() if w.spec.tier == tier]
    workloads = with_fake_data(workloads, fake_data, model_size, data_dir)
    rules_version = rules_version or rules_module.default_version(*(w.spec.tier for w in workloads))
    rules = rules_module.load(rules_version)
    studies = studies or rules.tuning[ruleset].studies
    trials = trials or rules.tuning[ruleset].trials
    for workload in workloads:
        rules_module.apply(rules, workload.spec)  # a workload the rules do not define: one line
    results_dir = results_dir_for(results_dir, fake_data, api.DEFAULT_RESULTS_DIR)
    plan = tuning.plan_study(submission_obj, workloads, ruleset, studies, trials, search_space,
                             seed_offset)
    console.print(
        f"[bold]{submission_obj.name}[/]: {ruleset} tuning, {studies} studies x "
        f"{len(plan) // (studies * len(workloads))} trials x {len(workloads)} workloads "
        f"= {len(plan)} trials"
    )
    slurm = cluster.SlurmOptions(
        partition=slurm_partition, gpus_per_node=gpus_per_node, cpus_per_task=cpus_per_task,
        account=slurm_account, qos=slurm_qos, extra_flags=tuple(sbatch_flags))
    try:
        with StudyDisplay(len(plan)) as display:
            if backend != "processes":
                display.status("submitted; waiting for jobs (logs beside the records)")
            tuning.run_study_on(
                backend, submission_obj, workloads, slurm=slurm, isolate=isolate, jobs=jobs,
                time_limit=trial_timeout, ruleset=ruleset, studies=studies, trials=trials,
                results_dir=results_dir, settings=ProtocolSettings(
                    max_runtime=max_runtime, max_steps=max_steps, rules=rules_version,
                    budget_multiplier=rules.tuning[ruleset].budget_factor),
                data_dir=data_dir, on_trial=display, checkpoint_every=checkpoint_every,
                search_space=search_space, seed_offset=seed_offset,
            )
    except (cluster.SubmissionRefused, cluster.BadSbatchFlag) as error:  # nothing was submitted
        raise UserError(str(error)) from None
    except cluster.TrialsUnfinished as unfinished:
        console.print(str(unfinished), markup=False)
        sys.exit(75)
    hint = shlex.join(["bench", "score", str(results_dir), "--ruleset", ruleset,
                       "--rules", rules_version])  # the folder may hold records of other rules
    console.print(f"records in {results_dir}/{ruleset}/{submission_obj.name}/; "
                  f"score with `{hint}`", markup=False)
