"""Schedule science and target setting: `refine`, `sensitivity`, `predict` and `set-targets`.

Each is a Click command over a small module with a Python API (`bench.refine`,
`bench.sensitivity`, `bench.predict`, `bench.targets`).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click
from rich.table import Table

from bench import api, predict as predict_module, refine as refine_module, registry
from bench import targets as targets_module
from bench import sensitivity as sensitivity_module
from bench import steadiness
from bench.cli.display import console, format_number
from bench.cli.output import print_table
from bench.cli.errors import UserError, user_errors
from bench.trial.record import read_record
from bench.submission import parse_hparam_assignment


# ------------------------------------------------------------------------------------ refine


@click.command()
@click.option("--from", "source", required=True, type=click.Path(exists=True),
              help="A trial record, or a directory of records (the best finished trial is used).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="The refined-schedule JSON file to write.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="PNG of the schedule beside the applied one [default: OUT with .png].")
@click.option("--method", type=click.Choice(sorted(refine_module.METHODS)), default="adam",
              show_default=True,
              help="adam: weights 1/G (the paper's rule for coordinate-wise methods); "
                   "sgd: weights 1/G^2.")
@click.option("--filter-fraction", default=refine_module.DEFAULT_FILTER_FRACTION,
              show_default=True, type=click.FloatRange(min=0, max=1, max_open=True),
              help="Median-filter width as a fraction of the run.")
@user_errors
def refine(source, out, plot_path, method, filter_fraction):
    """Refine a schedule from a finished run's gradient norms (Defazio et al. 2023).

    Writes the per-step multipliers of the refined schedule to OUT, for the nadamw_refined
    submission (hparam schedule_file), and a plot beside the learning rate the run applied.
    """
    path, record = refine_module.choose_record(source)
    schedule = refine_module.refine_record(record, method=method, filter_fraction=filter_fraction,
                                           source_path=str(path))
    out = refine_module.write_schedule(schedule, out)
    plot = refine_module.plot_refined(schedule, plot_path or Path(out).with_suffix(".png"))

    multipliers = schedule.multipliers
    peak_at = multipliers.index(max(multipliers)) / max(len(multipliers) - 1, 1)
    table = Table(title="Refined schedule", show_header=False)
    table.add_row("source record", str(path))
    table.add_row("run", f"{record['submission']} on {record['workload']}, "
                         f"{record['steps']} steps ({record['outcome']})")
    table.add_row("method", f"{method}: w = G^-{schedule.power:g}, median filter width "
                            f"{schedule.filter_width} of {len(multipliers)} points")
    table.add_row("peak of the source run", format_number(schedule.peak_learning_rate))
    table.add_row("refined peak at", f"{100 * peak_at:.0f}% of the run")
    table.add_row("mean multiplier", f"{sum(multipliers) / len(multipliers):.3f} "
                                     "(linear decay: 0.5)")
    print_table(table, console)
    step_hint = (record.get("workload_spec") or {}).get("step_hint")
    if step_hint and record.get("steps") and record["steps"] < step_hint:
        console.print(f"[yellow]note:[/] the run stopped at step {record['steps']} of the step "
                      f"hint {step_hint}; nadamw_refined stretches the schedule over the hint.")
    console.print(f"wrote {out} and {plot}")
    peak = format_number(schedule.peak_learning_rate, 6)
    hint = shlex.join(["bench", "run", "-w", record["workload"], "-s", "nadamw_refined",
                       "--hparam", f"schedule_file={out}", "--hparam", f"learning_rate={peak}"])
    console.print(f"use it: {hint}", markup=False)


# ------------------------------------------------------------------------------- sensitivity


@click.command()
@click.option("--submission", "-s", "submissions", required=True, multiple=True,
              help="Submission name or path (repeatable: one panel each).")
@click.option("--workload", "-w", required=True, help="Workload name.")
@click.option("--lrs", help="Comma-separated learning rates "
                            "[default: 1e-4 to 1e-1, two per decade].")
@click.option("--max-steps", type=click.IntRange(min=1),
              help="Steps per trial [default: the workload's step hint].")
@click.option("--results-dir", default=api.DEFAULT_RESULTS_DIR, show_default=True,
              type=click.Path(file_okay=False), help="Where trial records are written.")
@click.option("--sweep", "hparam", default="learning_rate", show_default=True,
              help="The hyperparameter swept.")
@click.option("--hparam", "assignments", multiple=True, metavar="NAME=VALUE",
              help="Override one other hyperparameter of the default point (repeatable; VALUE "
                   "is read as JSON).")
@click.option("--ruleset", default=sensitivity_module.RULESET, show_default=True,
              help="Ruleset name of the records (use another for a sweep from another point).")
@click.option("--seed", default=0, show_default=True, help="Seed of every trial.")
@click.option("--out", "plot_path", type=click.Path(dir_okay=False),
              help="PNG of loss against learning rate "
                   "[default: RESULTS_DIR/RULESET/<workload>_<sweep>_sensitivity_<submissions>_"
                   "<steps>steps_<hash of the grid and overrides>.png].")
@click.option("--data-dir", type=click.Path(), help="Prepared tensorflow-datasets directory.")
@user_errors
def sensitivity(submissions, workload, lrs, max_steps, results_dir, hparam, assignments,
                ruleset, seed, plot_path, data_dir):
    """Sweep the learning rate and report LR sensitivity (Wortsman et al. 2023).

    Trains each SUBMISSION on WORKLOAD at every learning rate (other hyperparameters at the
    default point, or as --hparam sets them) for a fixed number of steps, records the trials
    under RULESET (finished ones are reused), and prints the mean over the grid of
    min(final loss, initial loss) minus the best final loss.
    """
    rates = sensitivity_module.parse_lrs(lrs) if lrs else list(sensitivity_module.DEFAULT_LRS)
    overrides = dict(parse_hparam_assignment(text) for text in assignments)
    sweeps = []
    for submission in submissions:
        def show(point, submission=submission):
            state = "reused" if point.skipped else "ran"
            console.print(f"  {submission} {hparam}={point.learning_rate:.4g}: final loss "
                          f"{format_number(point.final_loss)} ({point.outcome}, {state})")

        sweeps.append(sensitivity_module.run_sweep(
            workload, submission, rates, max_steps=max_steps, results_dir=results_dir,
            hparam=hparam, hparams=overrides, ruleset=ruleset, seed=seed, data_dir=data_dir,
            on_point=show,
        ))

    table = Table(title=f"LR sensitivity on {sweeps[0].workload}: validation loss after "
                        f"{sweeps[0].max_steps} steps")
    table.add_column(hparam.replace("_", " "), justify="right")
    for sweep in sweeps:
        table.add_column(sweep.submission, justify="right")
    for index, rate in enumerate(rates):
        cells = ("[red]diverged[/]" if s.points[index].diverged
                 else format_number(s.points[index].final_loss) for s in sweeps)
        table.add_row(f"{rate:.4g}", *cells)
    table.add_section()
    table.add_row("L_init", *(format_number(s.initial_loss) for s in sweeps))
    table.add_row("best lr", *("-" if s.best is None else f"{s.best.learning_rate:.4g}"
                               for s in sweeps))
    table.add_row("[bold]sensitivity[/]", *(f"[bold]{s.sensitivity:.4g}[/]" for s in sweeps))
    print_table(table, console)
    step_hint = registry.get_workload(workload).spec.step_hint
    if sweeps[0].max_steps < step_hint:
        console.print(f"[yellow]note:[/] {sweeps[0].max_steps} steps is less than the step hint "
                      f"({step_hint}): schedules that decay to the hint were stopped before "
                      "their end.")
    path = plot_path or (Path(results_dir) / ruleset / sensitivity_module.plot_name(
        sweeps, hparam=hparam, hparams=overrides, seed=seed))
    console.print(f"wrote {sensitivity_module.plot_sweeps(sweeps, path)}")


# ----------------------------------------------------------------------------------- predict


@click.command()
@click.option("--fit", "fit_paths", required=True, multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Trial record whose training curve is fitted (one or two).")
@click.option("--target", "target_path", required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Trial record of the same workload under another schedule, to predict.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Directory for prediction.json and prediction.png.")
@click.option("--decay", default=predict_module.DEFAULT_DECAY, show_default=True,
              type=click.FloatRange(min=0, max=1, max_open=True),
              help="The annealing momentum's decay factor lambda.")
@click.option("--fit-warmup", is_flag=True,
              help="Also fit the losses during the warmup (default: from its end).")
@user_errors
def predict(fit_paths, target_path, out, decay, fit_warmup):
    """Fit the annealing scaling law to training curves and predict another schedule's curve.

    L(s) = L0 + A S1^-alpha - C S2 (Tissue et al. 2024) is fitted to the --fit records'
    training losses and learning rates, then evaluated on the --target record's learning
    rates alone; the error is measured against the target's own losses.
    """
    if len(fit_paths) > 2:
        raise UserError("fit one or two curves (--fit at most twice)")
    fit_records = [read_record(path) for path in fit_paths]
    target_record = read_record(target_path)
    workloads = {r["workload"] for r in fit_records + [target_record]}
    if len(workloads) > 1:
        raise UserError(
            f"the records are of different workloads ({', '.join(sorted(workloads))}); the law's "
            "constants belong to one workload"
        )
    fitted = [predict_module.Curve.from_record(r, f"{r['submission']} ({Path(p).name})")
              for r, p in zip(fit_records, fit_paths)]
    target = predict_module.Curve.from_record(
        target_record, f"{target_record['submission']} ({Path(target_path).name})")
    fit = predict_module.fit_law(fitted, decay=decay, fit_warmup=fit_warmup)
    report = predict_module.evaluate_prediction(fit, target)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot = predict_module.plot_prediction(fit, fitted, target, report, out / "prediction.png")
    summary = {
        "fit": predict_module.fit_to_json(fit),
        "fit_records": list(fit_paths),
        "target_record": target_path,
        "errors": report.summary(),
        "prediction": {"step": report.steps.tolist(), "predicted": report.predicted.tolist(),
                       "observed": report.observed.tolist()},
    }
    (out / "prediction.json").write_text(json.dumps(summary, indent=1) + "\n")

    p = fit.params
    table = Table(title="Scaling law with LR annealing", show_header=False)
    table.add_row("fitted on", ", ".join(fit.curves))
    table.add_row("L0, A, alpha, C", f"{p.L0:.4g}, {p.A:.4g}, {p.alpha:.4g}, {p.C:.4g}")
    table.add_row("fit RMSE", f"{fit.rmse:.4g} over {fit.points} points")
    table.add_row("target", target.label)
    errors = report.summary()
    table.add_row("mean absolute error", f"{errors['mean_absolute_error']:.4g}")
    table.add_row("mean relative error", f"{100 * errors['mean_relative_error']:.2f}%")
    table.add_row("final loss error", f"{errors['final_error']:+.4g}")
    print_table(table, console)
    console.print(f"wrote {out / 'prediction.json'} and {plot}")


# ------------------------------------------------------------------------------ set-targets


def _names(ctx, param, text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise click.BadParameter("expected comma-separated submission names")
    return names


@click.command("set-targets")
@click.option("--workload", "-w", required=True, help="The cpu workload to set targets for.")
@click.option("--step-hint", type=click.IntRange(min=1),
              help="The workload's step hint; each baseline run trains 3/4 of it "
                   "[default: the workload's current step hint].")
@click.option("--baselines", default=",".join(targets_module.BASELINES), show_default=True,
              callback=_names, help="Comma-separated baseline submissions to tune.")
@click.option("--trials", default=targets_module.DEFAULT_TRIALS, show_default=True,
              type=click.IntRange(min=1), help="Search-space points per baseline.")
@click.option("--seeds", default=targets_module.DEFAULT_SEEDS, show_default=True,
              type=click.IntRange(min=1), help="Seeds the best configuration is rerun on.")
@click.option("--results-dir", default="results-targets", show_default=True,
              type=click.Path(file_okay=False),
              help="Where the runs' records go (rerunning skips the finished ones).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory of the report <workload>.json [default: workloads/targets/].")
@click.option("--remeasure", is_flag=True,
              help="Run the seeds again though recorded (on a quiet machine: the budget is "
                   "their measured time); the tuning runs are reused.")
@user_errors
def set_targets(workload, step_hint, baselines, trials, seeds, results_dir, out_dir, remeasure):
    """Set WORKLOAD's validation target and budget the AlgoPerf way (bench.targets).

    Tunes each baseline over its search space for 3/4 of the step hint (AlgoPerf's
    target-setting run length), reruns the best configuration on SEEDS seeds, sets the target
    to the median of their best validation metric and the budget so that the median seed
    reaches it at 3/4 of it. Writes every
    configuration, seed curve and the decision to workloads/targets/WORKLOAD.json, which the
    workload reads its target from. Run it on a quiet machine: the budget is measured time, and
    seeds whose step times show that the machine was busy are named (bench.steadiness).
    """
    step_hint = step_hint or registry.get_workload(workload).spec.step_hint
    command = shlex.join(["bench", "set-targets", "-w", workload, "--step-hint", str(step_hint),
                          "--baselines", ",".join(baselines), "--trials", str(trials),
                          "--seeds", str(seeds)])

    def on_trial(index, total, planned, outcome):
        if outcome is None:
            console.print(f"tuning {planned.workload.name}: trial {planned.trial + 1}/{total} ...",
                          markup=False)

    def on_seed(index, total):
        console.print(f"rerunning the best configuration: seed {index + 1}/{total} ...")

    report = targets_module.set_targets(
        workload, step_hint=step_hint, results_dir=results_dir, baselines=baselines,
        trials=trials, seeds=seeds, command=command, on_trial=on_trial, on_seed=on_seed,
        remeasure=remeasure)
    path = targets_module.write_report(report, out_dir)
    table = Table(title=f"Targets for {report.workload}", show_header=False)
    chosen = report.chosen
    table.add_row("chosen", f"{chosen.submission} {json.dumps(chosen.hparams)}")
    table.add_row(f"best {report.target_metric} per seed",
                  ", ".join(format_number(run.best_metric) for run in report.seeds))
    table.add_row("validation target (median)", format_number(report.validation_target))
    reached = [run.time_to_target for run in report.seeds if run.time_to_target is not None]
    table.add_row("time to target (seeds reaching it)",
                  ", ".join(f"{seconds:.2f}s" for seconds in reached))
    table.add_row("max_runtime", f"{report.max_runtime:g}s")
    table.add_row("step hint / target-setting runs / evaluation every",
                  f"{report.step_hint} / {report.target_setting_steps} / "
                  f"{report.eval_every_steps} steps")
    print_table(table, console)
    warn_unsteady_seeds(report)
    console.print(f"wrote {path}")


def warn_unsteady_seeds(report) -> None:
    """Say which seeds were timed while the machine was busy: the budget rests on their times."""
    unsteady = []
    for run in report.seeds:
        share = steadiness.curve_slow_share(run.curve)
        if steadiness.is_unsteady(share):
            unsteady.append(f"{run.seed} ({share:.0%} of intervals slow)")
    if unsteady:
        console.print(f"[yellow]seeds {', '.join(unsteady)} ran unsteadily: was another job "
                      "running? The budget is their measured time; run the same command with "
                      "--remeasure on a quiet machine.[/]")
