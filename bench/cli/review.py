"""Reviewing a contributed submission: `bench check` and `bench ci`."""

from __future__ import annotations

from pathlib import Path

import click

from bench import rules as rules_module
from bench import tuning
from bench.check import check_submission
from bench.cli.display import checks_table, console
from bench.cli.output import print_json, print_table
from bench.cli.errors import user_errors
from bench.ci import TOTAL_SECONDS, reference_rules, run_ci
from bench.protocol import ProtocolSettings


@click.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--workload", "-w", default="mnist1d_mlp", show_default=True,
              help="cpu-tier workload for the training check.")
@click.option("--steps", default=20, show_default=True, type=click.IntRange(min=1),
              help="Training steps of the training check.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks' results as JSON.")
def check(path, workload, steps, as_json):
    """Validate a contributed submission: import, API, search space, a few training steps.

    Exits non-zero when any check fails.
    """
    results = check_submission(path, workload=workload, steps=steps)
    if as_json:
        print_json({"path": path, "valid": all(r.ok for r in results),
                    "checks": [{"name": r.name, "ok": r.ok, "detail": r.detail}
                               for r in results]})
    else:
        print_table(checks_table(f"bench check {path}", results), console)
    if not all(result.ok for result in results):
        raise SystemExit(1)


@click.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--ruleset", type=click.Choice(tuning.RULESETS), default="self", show_default=True)
@click.option("--studies", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--trials", type=click.IntRange(min=1), help="Trials per study (external tuning).")
@click.option("--workload", "-w", "workload_names", multiple=True,
              help="Workloads to run (default: the whole cpu tier).")
@click.option("--reference", default="results/reference", show_default=True,
              type=click.Path(file_okay=False), help="Folder of the reference leaderboards.")
@click.option("--results-dir", default="results/ci", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--report", default="bench-ci-report.md", show_default=True,
              type=click.Path(dir_okay=False), help="Markdown report for the pull request.")
@click.option("--rules", type=click.Choice(rules_module.versions()),
              help="Rules version of the trials [default: the reference leaderboard's, so that "
                   "they compare; without one, bench's default].")
@click.option("--max-runtime", type=click.FloatRange(min=0, min_open=True),
              help="Budget per trial (default: the workload's).")
@click.option("--trial-timeout", type=click.FloatRange(min=0, min_open=True),
              help="Wall-clock seconds per trial (default: twice its budget + 120).")
@click.option("--total-timeout", default=TOTAL_SECONDS, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="Wall-clock seconds for the whole study; trials that no longer fit are not "
                   "run (keep it under the CI job's timeout).")
@user_errors
def ci(path, ruleset, studies, trials, workload_names, reference, results_dir, report, rules,
       max_runtime, trial_timeout, total_timeout):
    """Check a contributed submission, run its cpu-tier study, rank it against the reference.

    The submission is never imported here; its trials run one by one in their own processes,
    in a fresh directory under RESULTS_DIR, and only the records they wrote are scored. Writes
    a markdown report (for a pull-request comment) and exits non-zero when the submission is
    invalid or left records the harness did not write.
    """
    rules = rules or reference_rules(reference, ruleset) or rules_module.default_version("cpu")
    result = run_ci(path, reference_dir=reference, ruleset=ruleset, studies=studies,
                    trials=trials, workloads=list(workload_names) or None, results_dir=results_dir,
                    settings=ProtocolSettings(max_runtime=max_runtime, rules=rules),
                    trial_timeout=trial_timeout, total_timeout=total_timeout)
    Path(report).write_text(result.report)
    console.print(result.report, markup=False)
    console.print(f"report written to {report}")
    if not result.valid:
        raise SystemExit(1)
