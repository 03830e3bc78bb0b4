"""The cpu tier's reference leaderboards, made with one command (issue 21).

    python scripts/reference/run.py                    # both rulesets, every cpu workload
    python scripts/reference/run.py --ruleset self --seed-offset 1000000 \\
        --results-dir ~/bench-refrun-2 --out /tmp/reference-2    # an independent second run

It runs `bench study` for every submission of each ruleset over the cpu-tier workloads (held-out
variants included), 3 studies each, then `bench score` for each ruleset into OUT/<ruleset>/
(leaderboard.md/.csv/.json with bootstrap intervals over the studies, plots), and writes
OUT/<ruleset>/README.md: the command, the dates its trials ran (from their records: a board may
take several sittings), the commits they ran at, this machine's hardware fingerprint and every
`bench` command it ran.

- self: every shipped submission (`bench list submissions`) at its default point, under the
  rules' self-tuning budget.
- external: the baselines (nadamw, sgd_nesterov, adamw) and the learning-rate-free methods
  (prodigy, dadapt_adamw, dog, mechanic, schedule_free_adamw, cocob), `--trials` quasi-random
  points of each one's search space per study, at seed offset + 500,000: at offset 0 a
  baseline's study 0 would replay `bench set-targets`' own tuning runs, the run that set the
  target among them (EXTERNAL_SEED_SHIFT). A submission with a point_list.json beside its
  code runs that list's first `--trials` points in every study instead (`bench study
  --search-space`), as AlgoPerf's externally tuned NadamW runs its list: the baselines' lists
  are ordered from the target-setting search by scripts/reference/point_lists.py.

Trial records go to RESULTS_DIR ($BENCH_REFRUN, default ~/bench-refrun), never into the
repository; when the leaderboards are scored, a copy of each ruleset's records without their
training-loss curves goes to OUT/<ruleset>/records.tar.xz (0.7 MB for 126 trials), as AlgoPerf
publishes its leaderboards' logs: `tar -xJf records.tar.xz -C DIR` gives a results directory
that `bench score`, `benchmarks/ranking_stability.py` and scripts/reference/*.py read, so a
second run can be compared with this one on another day and machine. Running the same command
again continues where it stopped: a submission whose records are all there is skipped, and
`bench study` skips the finished trials of the others (an interrupted trial resumes from its
checkpoint). A board that takes more sittings than one machine keeps its files: `--interim`
scores the records so far into OUT without running a trial, and `--records-from
OUT/<ruleset>/records.tar.xz` unpacks them into the next machine's RESULTS_DIR to go on from
there (scripts/reference/sitting.sh runs the trials with `--no-score` and scores at the end).
Each command's output goes to RESULTS_DIR/logs/. Trials run one after the other,
each in its own process, or `--jobs N` at a time, each process kept to its share of the CPUs:
run it on a quiet machine, since the leaderboard ranks by submission time. The reference
boards use one at a time: on the development machine nadamw's self-tuning study with
`--jobs 2` took 25 minutes instead of 36, but the same trials' cpu-v3 clock counted them up
to 1.47x the reference seconds of their lone runs, the short hits most (README, "How far to
trust the cpu tier", item 4).

A second run for `benchmarks/ranking_stability.py` takes `--seed-offset` (a multiple of
1,000,000: no trial seed in common with the first run), a results directory and an --out of its
own.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import io
import json
import os
import shlex
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from bench.trial.record import TrialId, read_as_written  # noqa: E402

RULESETS = ("self", "external")
BASELINES = ("nadamw", "sgd_nesterov", "adamw")
LEARNING_RATE_FREE = ("prodigy", "dadapt_adamw", "dog", "mechanic", "schedule_free_adamw", "cocob")
DEFAULT_STUDIES = 3
DEFAULT_TRIALS = 3  # external trials per study: a small budget
# `bench set-targets` tuned the baselines as one external study at seed offset 0
# (bench.targets.tune), so external study 0 at offset 0 draws the same points with the same trial
# seeds: on five of the six cpu workloads the configuration that set the target is among its
# baseline's first three draws, and the board would replay the very run that set the target.
# The external board's seeds and draws are shifted by this much, past any target-setting run.
EXTERNAL_SEED_SHIFT = 500_000
DEFAULT_OUT = REPO / "results" / "reference"
BENCH = (sys.executable, "-m", "bench.cli")
POLL_SECONDS = 2.0

console = Console()


@dataclasses.dataclass(frozen=True)
class Step:
    """One `bench study`: a submission's studies under one ruleset over the workloads."""

    ruleset: str
    submission: str
    workloads: tuple[str, ...]  # as given to `bench study` (a name, or module:attribute)
    names: tuple[str, ...]  # the workloads' names, which their records' paths hold
    studies: int
    trials: int  # per study; 1 under self-tuning
    seed_offset: int = 0  # passed to `bench study`: the run's, + EXTERNAL_SEED_SHIFT if external
    search_space: str | None = None  # external: the submission's point list, where it has one

    @property
    def planned(self) -> int:
        """How many trials it runs."""
        return len(self.names) * self.studies * self.trials

    def record_paths(self, results_dir: Path) -> list[Path]:
        return [TrialId(self.ruleset, self.submission, workload, study, trial).path(results_dir)
                for workload in self.names for study in range(self.studies)
                for trial in range(self.trials)]

    def finished(self, results_dir: Path) -> int:
        """How many of its trials have a record (finished, or failed and recorded)."""
        return sum(path.exists() for path in self.record_paths(results_dir))


def default_submissions(ruleset: str) -> list[str]:
    """self: every shipped submission; external: the baselines and the learning-rate-free ones."""
    from bench import registry

    shipped = registry.submission_names()
    if ruleset == "self":
        return shipped
    return [name for name in BASELINES + LEARNING_RATE_FREE if name in shipped]


def cpu_workloads() -> list[str]:
    """Every cpu-tier workload, held-out variants included, by name."""
    from bench import registry

    return sorted(name for name, workload in registry.all_workloads().items()
                  if workload.spec.tier == "cpu")


def point_list(submission: str) -> str | None:
    """The submission's ordered list of points for its external studies, if it has one (the
    baselines do: scripts/reference/point_lists.py)."""
    from bench import point_lists, registry

    path = registry.get_submission(submission).path.parent / point_lists.FILE_NAME
    return str(path) if path.exists() else None


def plan(rulesets: Sequence[str], submissions: Sequence[str], workloads: Sequence[str],
         studies: int, trials: int, seed_offset: int = 0) -> list[Step]:
    """The steps in the order they run: per ruleset, its submissions (or the ones given)."""
    from bench import registry

    names = tuple(registry.get_workload(workload).name for workload in workloads)
    steps = []
    for ruleset in rulesets:
        for name in submissions or default_submissions(ruleset):
            external = ruleset == "external"
            steps.append(Step(ruleset, name, tuple(workloads), names, studies,
                              trials if external else 1,
                              seed_offset + (EXTERNAL_SEED_SHIFT if external else 0),
                              point_list(name) if external else None))
    return steps


def study_args(step: Step, results_dir: Path, rules: str | None = None,
               limits: Sequence[str] = ()) -> list[str]:
    """The `bench study` arguments of one step."""
    args = ["study", "-s", step.submission]
    for workload in step.workloads:
        args += ["-w", workload]
    args += ["--ruleset", step.ruleset, "--studies", str(step.studies)]
    if step.ruleset == "external":
        args += ["--trials", str(step.trials)]
    if step.search_space:
        args += ["--search-space", step.search_space]
    args += ["--seed-offset", str(step.seed_offset), "--results-dir", str(results_dir)]
    return args + (["--rules", rules] if rules else []) + list(limits)


def score_args(ruleset: str, results_dir: Path, out: Path, rules: str | None = None) -> list[str]:
    """The `bench score` arguments of one ruleset's leaderboard."""
    args = ["score", str(results_dir), "--ruleset", ruleset, "--out", str(out / ruleset)]
    return args + (["--rules", rules] if rules else [])


def check_outside_repository(results_dir: Path) -> None:
    """Trial records are never committed: refuse a results directory inside the checkout."""
    if results_dir.resolve().is_relative_to(REPO):
        raise click.UsageError(f"--results-dir {results_dir} is inside the repository; trial "
                               "records stay outside it (e.g. ~/bench-refrun)")


def run_logged(argv: Sequence[str], log: Path, on_tick: Callable[[], None]) -> int:
    """Run a command with its output appended to `log`, calling `on_tick` while it runs.

    Ctrl-C reaches the command too (same process group): it checkpoints and stops, and this
    waits for it before passing the interrupt on."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as handle:
        handle.write(f"$ {shlex.join(argv)}\n")
        handle.flush()
        process = subprocess.Popen(list(argv), stdout=handle, stderr=subprocess.STDOUT)
        try:
            while process.poll() is None:
                on_tick()
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            process.wait()
            raise
    on_tick()
    return process.returncode


@dataclasses.dataclass(frozen=True)
class RecordFacts:
    """What a board's README says of its trial records (`record_facts`)."""

    trials: int = 0
    unsteady: int = 0  # unsteady or slow against their siblings (bench.steadiness)
    rates: tuple[float, float] | None = None  # lowest and highest clock_rate (cpu-v3)
    span: tuple[str, str] | None = None  # the first and last finished_at
    commits: tuple[str, ...] = ()  # the bench commits the trials ran at
    machines: tuple[str, ...] = ()  # the machines they ran on, as `machine_words` puts them


def machine_words(hardware: dict) -> str:
    """A machine as a README names it: processor, CPU count, backend and fingerprint."""
    return (f"{hardware.get('cpu')} ({hardware.get('cpu_count')} CPUs, backend "
            f"{hardware.get('backend')}), hardware fingerprint `{hardware.get('fingerprint')}`")


def record_facts(records: Sequence[dict]) -> RecordFacts:
    """The count, steadiness, clock rates, dates and commits of a board's trial records. A board
    made over several sessions gets its dates from its records, not from the last command."""
    from bench import steadiness

    groups = collections.defaultdict(list)  # siblings: one submission's trials of one workload
    for record in records:
        groups[(record.get("submission"), record.get("workload"))].append(record)
    rates = [r["clock_rate"] for r in records if r.get("clock_rate") is not None]
    finished = sorted(r["finished_at"] for r in records if r.get("finished_at"))
    return RecordFacts(
        trials=len(records),
        unsteady=sum(sum(steadiness.suspect(group)) for group in groups.values()),
        rates=(min(rates), max(rates)) if rates else None,
        span=(finished[0], finished[-1]) if finished else None,
        commits=tuple(sorted({r["git_commit"] for r in records if r.get("git_commit")})),
        machines=tuple(sorted({machine_words(r["hardware"]) for r in records
                               if isinstance(r.get("hardware"), dict)})))


def provenance(ruleset: str, command: str, ran: Sequence[str], started: str, finished: str,
               hardware: dict, steps: Sequence[Step], commit: str | None,
               limits: Sequence[str] = (), facts: RecordFacts = RecordFacts()) -> str:
    """OUT/<ruleset>/README.md: how this leaderboard was made."""
    from bench import point_lists

    ruleset_steps = [step for step in steps if step.ruleset == ruleset]
    first = ruleset_steps[0]
    listed = [step.submission for step in ruleset_steps if step.search_space]
    trials = "one trial per study at the default point" if ruleset == "self" else (
        f"{first.trials} trials per study (quasi-random points of the search space"
        + (f"; the first points of their {point_lists.FILE_NAME} for {', '.join(listed)}"
           if listed else "")
        + ")")
    when = f"- This command last started {started}, finished {finished}."
    if facts.span:
        when = (f"- Trials finished from {facts.span[0]} to {facts.span[1]} (their records' "
                f"`finished_at`); this command last started {started}, finished {finished}.")
    commits = ", ".join(f"`{c[:12]}`" for c in facts.commits) or "unknown"
    lines = [
        f"# Reference leaderboard: {ruleset} ruleset", "",
        "Made with one command from the repository root:", "", f"    {command}", "",
        when,
        (f"- The trials ran on {'; '.join(facts.machines)} (their records' `hardware`)."
         if facts.machines else f"- Machine: {machine_words(hardware)}."),
        f"- bench commit: `{commit or 'unknown'}` (scoring); the trials ran at {commits}.",
        f"- {first.studies} studies, {trials}; seed offset {first.seed_offset}"
        + (" (the run's + 500,000: no target-setting run is replayed)." if ruleset == "external"
           else "."),
        f"- Submissions: {', '.join(step.submission for step in ruleset_steps)}.",
        f"- Workloads: {', '.join(first.workloads)}.",
        f"- Steadiness of the clock: {facts.unsteady} of {facts.trials} trials ran unsteadily "
        "or slow against the same trial in the other studies (the machine was busy; "
        "`python scripts/reference/steadiness.py RESULTS_DIR` lists them).",
    ]
    if facts.rates is not None:
        lines.append(f"- Clock in reference seconds (bench/speed.py): this machine took "
                     f"{facts.rates[0]:.2f}-{facts.rates[1]:.2f}x the seconds of the machine "
                     "that set the budgets, trial by trial (the records' `clock_rate`).")
    planned = sum(step.planned for step in ruleset_steps)
    if facts.trials < planned:
        lines.append(f"- Interim: {facts.trials} of its {planned} trials are recorded. To continue "
                     "it on any machine, run the command above with `--records-from` this "
                     "folder's records.tar.xz; `--interim` scores what is recorded.")
    if limits:
        lines.append(f"- Limited by `{' '.join(limits)}`: a smoke test, not a reference.")
    lines += ["", "The `bench` commands it ran (trial records stay outside the repository):", ""]
    lines += [f"    {command}" for command in ran]
    lines += ["", "The leaderboard: `leaderboard.md` (95% bootstrap intervals over the studies); "
              "the same as data in `leaderboard.json`. The trial records, without their "
              "training-loss curves: `records.tar.xz` (`tar -xJf records.tar.xz -C DIR` gives "
              "a results directory to score or compare)."]
    return "\n".join(lines) + "\n"


def archive_records(read: Sequence[tuple[Path, dict]], results_dir: Path, archive: Path) -> int:
    """Write the records `read` (path and object, `bench.trial.record.read_as_written`) into the
    xz tarball `archive`, named by their path under `results_dir` and with their `train_curve`
    emptied (nine tenths of a record's bytes; scoring reads the evaluations). Returns how many
    it holds."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:xz") as tar:
        for path, record in sorted(read, key=lambda item: item[0]):
            if "train_curve" in record:
                record = {**record, "train_curve": {}}
            data = (json.dumps(record, indent=1) + "\n").encode()
            member = tarfile.TarInfo(path.relative_to(results_dir).as_posix())
            member.size, member.mtime = len(data), int(path.stat().st_mtime)
            tar.addfile(member, io.BytesIO(data))
    return len(read)


def restore_records(archive: Path, results_dir: Path) -> int:
    """Unpack into `results_dir` the records of `archive` (an OUT/<ruleset>/records.tar.xz) that
    it lacks, so that a board begun on another machine or day continues where that one stopped.
    A record already there is kept. Returns how many were unpacked."""
    try:
        tar = tarfile.open(archive, "r:xz")
    except (OSError, tarfile.TarError) as error:
        raise click.BadParameter(f"cannot read {archive}: {error}", param_hint="--records-from")
    with tar:
        missing = [member for member in tar.getmembers()
                   if member.isfile() and member.name.endswith(".json")
                   and not (results_dir / member.name).exists()]
        tar.extractall(results_dir, members=missing, filter="data")
    return len(missing)


def shown(argv: Sequence[str], bench: Sequence[str]) -> str:
    """A command as a user would type it from the repository root: `bench ...`."""
    return shlex.join(["bench", *(arg.removeprefix(f"{REPO}/") for arg in argv[len(bench):])])


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def run_steps(steps: Sequence[Step], results_dir: Path, bench: Sequence[str],
              rules: str | None, limits: Sequence[str]) -> list[Step]:
    """Run every unfinished step with a progress bar; returns the failed steps."""
    failed = []
    total = sum(step.planned for step in steps)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("trials"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("trials recorded", total=total)

        def tick() -> None:
            progress.update(task, completed=sum(step.finished(results_dir) for step in steps))

        tick()
        for index, step in enumerate(steps, 1):
            if step.finished(results_dir) == step.planned:
                continue
            argv = [*bench, *study_args(step, results_dir, rules, limits)]
            progress.update(task, description=f"[{index}/{len(steps)}] {step.ruleset} "
                                              f"{step.submission}")
            log = results_dir / "logs" / f"{step.ruleset}_{step.submission}.log"
            if run_logged(argv, log, tick) != 0:
                failed.append(step)
                progress.console.print(f"[red]failed:[/] {step.ruleset} {step.submission} "
                                       f"(see {log})")
    return failed


@click.command(help=__doc__.split("\n\n")[0])
@click.option("--ruleset", "rulesets", type=click.Choice(RULESETS), multiple=True,
              help="Ruleset (repeatable). Default: both.")
@click.option("--submission", "-s", "submissions", multiple=True,
              help="Submission (repeatable). Default: each ruleset's (see the module docstring).")
@click.option("--workload", "-w", "workloads", multiple=True,
              help="Workload (repeatable). Default: every cpu-tier workload, variants included.")
@click.option("--studies", default=DEFAULT_STUDIES, show_default=True, type=click.IntRange(min=1))
@click.option("--trials", default=DEFAULT_TRIALS, show_default=True, type=click.IntRange(min=1),
              help="External-tuning trials per study.")
@click.option("--seed-offset", default=0, show_default=True, type=click.IntRange(min=0),
              help="Passed to `bench study` (external: plus 500000, past the target-setting "
                   "runs): an independent run (use multiples of 1000000).")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path),
              default=lambda: os.environ.get("BENCH_REFRUN", str(Path.home() / "bench-refrun")),
              show_default="$BENCH_REFRUN or ~/bench-refrun",
              help="Where the trial records go (outside the repository).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help=f"Where the scored leaderboards go, one folder per ruleset [default: "
                   f"{DEFAULT_OUT.relative_to(REPO)}; required with --seed-offset].")
@click.option("--rules", help="Rules version passed to `bench study` and `bench score`.")
@click.option("--max-steps", type=click.IntRange(min=1),
              help="Passed to `bench study`: for smoke tests only (not a reference).")
@click.option("--max-runtime", type=click.FloatRange(min=0, min_open=True),
              help="Passed to `bench study`: for smoke tests only (not a reference).")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(min=1),
              help="Passed to `bench study`: trials at once, each process kept to its share of "
                   "the CPUs (not for reference boards; see the docstring).")
@click.option("--bench", "bench_command", help="Command that runs bench [default: this Python's "
                                               "`-m bench.cli`].")
@click.option("--records-from", "archives", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A board's records.tar.xz (repeatable): its records that RESULTS_DIR lacks are "
                   "unpacked there first, to continue a board begun elsewhere.")
@click.option("--interim", is_flag=True,
              help="Run no trial: score what is recorded so far into OUT, as an interim board "
                   "whose records.tar.xz a later `--records-from` continues from.")
@click.option("--no-score", is_flag=True,
              help="Run the trials and stop: score later (`--interim`, or the same command).")
@click.option("--dry-run", is_flag=True, help="Print the plan and the commands; run nothing.")
def main(rulesets, submissions, workloads, studies, trials, seed_offset, results_dir, out, rules,
         max_steps, max_runtime, jobs, bench_command, archives, interim, no_score, dry_run):
    started = utc_now()
    check_outside_repository(results_dir)
    if seed_offset and out is None and not no_score:
        raise click.UsageError("a run with --seed-offset is not the reference: give it an --out "
                               "of its own")
    if interim and no_score:
        raise click.UsageError("--interim scores and runs nothing, --no-score runs and scores "
                               "nothing: give one")
    for archive in archives:
        console.print(f"{restore_records(archive, results_dir)} records unpacked from {archive}")
    out = out or DEFAULT_OUT
    bench = tuple(shlex.split(bench_command)) if bench_command else BENCH
    limits = (["--max-steps", str(max_steps)] if max_steps else []) + (
        ["--max-runtime", str(max_runtime)] if max_runtime else [])
    passed = [*limits, *(["--jobs", str(jobs)] if jobs > 1 else [])]  # to every `bench study`
    steps = plan(rulesets or RULESETS, submissions, workloads or cpu_workloads(), studies, trials,
                 seed_offset)
    command = shlex.join(["python", "scripts/reference/run.py",
                          *(arg for arg in sys.argv[1:] if arg != "--interim")])
    done = sum(step.finished(results_dir) for step in steps)
    planned = sum(step.planned for step in steps)
    scored = "scored later" if no_score else f"leaderboards to {out}"
    console.print(f"{len(steps)} studies to run ({planned} trials, {done} already recorded in "
                  f"{results_dir}); {scored}")
    commands = [shown([*bench, *study_args(step, results_dir, rules, passed)], bench)
                for step in steps]
    if dry_run:
        click.echo("\n".join(commands))
        return
    failed = [] if interim else run_steps(steps, results_dir, bench, rules, passed)
    if failed:
        console.print(f"{len(failed)} studies failed; nothing scored. Fix them and run the same "
                      "command again: finished trials are kept.")
        sys.exit(1)
    if not no_score:
        finish(steps, rulesets or RULESETS, results_dir, out, bench, rules, commands, started,
               command, limits)


def finish(steps, rulesets, results_dir, out, bench, rules, ran, started, command,
           limits) -> None:
    """Score each ruleset into OUT/<ruleset>/ and write its README.md."""
    from bench import environment

    hardware, commit = environment.hardware(), environment.git_commit()
    for ruleset in rulesets:
        argv = [*bench, *score_args(ruleset, results_dir, out, rules)]
        log = results_dir / "logs" / f"score_{ruleset}.log"
        if run_logged(argv, log, lambda: None) != 0:
            console.print(f"[red]bench score failed[/] for {ruleset} (see {log})")
            sys.exit(1)
        mine = [line for line in ran if f"--ruleset {ruleset} " in line + " "]
        paths = [path for step in steps if step.ruleset == ruleset
                 for path in step.record_paths(results_dir)]
        read, _ = read_as_written(paths)  # a planned trial that never ran has no file
        facts = record_facts([record for _, record in read])
        text = provenance(ruleset, command, mine + [shown(argv, bench)], started, utc_now(),
                          hardware, steps, commit, limits, facts)
        (out / ruleset / "README.md").write_text(text)
        archive_records(read, results_dir, out / ruleset / "records.tar.xz")
        console.print(f"{ruleset}: leaderboard in {out / ruleset}/leaderboard.md")


if __name__ == "__main__":
    main()
