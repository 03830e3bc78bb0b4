"""Spreading a study over a SLURM cluster with submitit (or local processes, for trying it out).

Every missing trial of the study becomes one job that runs the trial (`bench.trial.backends.
run_in_child`, as an isolated local trial) on the node it lands on and writes its record into the shared results directory (which must be on a file system all
nodes see). Many trials go in as one job array, `max_parallel` of them running at once. The
submitting process polls the queue (`squeue`, which works without SLURM's accounting database)
until every job has left it, then reads the records.

What a job that ends without a record means:

- it was cancelled (`scancel`), preempted, requeued, lost with its node, or killed on the node:
  the scheduler's doing, not the trial's. The trial stays *unfinished*: its checkpoint (saved
  every `checkpoint_every` seconds and on SIGTERM, which SLURM sends before it kills a job) is
  kept, nothing is recorded, and the next run of the same study resumes it. A requeued job
  resumes by itself when SLURM starts it again.
- it ran past its time limit (`TIMEOUT`) or out of memory (`OUT_OF_MEMORY`): recorded as `error`,
  as for a trial in an isolated local process.
- it raised outside the trial (the job could not import the workload or the submission):
  recorded as `error` with the traceback.
- its trial was busy in another process (two studies submitted into one results directory):
  the study waits on the trial's lock and takes that process's record.

A study whose jobs cannot be submitted at all (an unknown partition, account or QOS) raises
`SubmissionRefused` with sbatch's own message, and records nothing.

Each job's log (stdout and stderr together) is linked beside its record as `trial_<n>.log` (by
the submitter, then by the job that trains the trial); submitit's files live in
`<results>/<ruleset>/<submission>/jobs/`.

    bench study -s nadamw --backend slurm --slurm-partition gpu --gpus-per-node 1 --jobs 8
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax

from bench import api, registry, tuning
from bench.protocol import ProtocolSettings
from bench.trial import backends
from bench.trial.execute import TrialBusyError, trial_lock
from bench.trial.record import TrialId, read_record

BACKENDS = ("slurm", "local")
# Job states after which a job never runs again (squeue's %T names).
ENDED_STATES = frozenset({"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY",
                          "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"})
# Ended without a record: the trial's own doing, recorded as `error` (the rest stay unfinished).
TRIAL_FAULT_STATES = {
    "TIMEOUT": "the cluster job ran past its time limit of {limit} and was stopped",
    "OUT_OF_MEMORY": "the cluster job ran out of memory",
}
STARTUP_HEADROOM_S = 15 * 60  # interpreter, dataset loading and compilation, off the clock
CLOCK_HEADROOM = 1.5  # evaluation and checkpoints are not submission time


class SubmissionRefused(RuntimeError):
    """sbatch refused the study's jobs (unknown partition, account, QOS, too long a time limit)."""


class BadSbatchFlag(ValueError):
    """An extra sbatch flag not written `--name` or `--name=value`."""


class TrialsUnfinished(RuntimeError):
    """Some trials' jobs ended without a record; running the study again resumes them."""

    def __init__(self, study: "ClusterStudy"):
        self.study = study
        lines = [f"{len(study.unfinished)} trial(s) unfinished; run the same study again to "
                 "resume them from their checkpoints:"]
        lines += [f"  {u.trial_id.workload} study {u.trial_id.study} trial {u.trial_id.trial}: "
                  f"job {u.job_id} {u.state}: {u.reason}; log {u.log}"
                  for u in study.unfinished]
        super().__init__("\n".join(lines))


@dataclasses.dataclass(frozen=True)
class SlurmOptions:
    """What a job asks of the cluster; None leaves the choice to the cluster's defaults."""

    partition: str | None = None
    gpus_per_node: int | None = None
    cpus_per_task: int | None = None
    account: str | None = None
    qos: str | None = None
    extra_flags: tuple[str, ...] = ()  # further sbatch flags, e.g. "--constraint=a100"
    max_parallel: int | None = None  # array tasks running at once (None: as many as fit)
    time_limit: float | None = None  # seconds per job (None: from the trial's budget)


@dataclasses.dataclass(frozen=True)
class UnfinishedTrial:
    """A trial whose job ended without a record; the next run of the study resumes it."""

    trial_id: TrialId
    job_id: str
    state: str  # the job's last state in the queue
    reason: str
    log: Path | None


@dataclasses.dataclass(frozen=True)
class ClusterStudy:
    outcomes: list[api.RunOutcome]  # finished trials, in plan order
    unfinished: list[UnfinishedTrial]


def job_time_limit(workloads, settings: ProtocolSettings) -> float:
    """Seconds a job may run: 1.5 x the largest trial budget + 15 minutes.

    The budget counts submission time only; evaluations and checkpoints come on top of it
    (hence the factor), and start-up (interpreter, dataset, compilation) before it.
    """
    budget = max(settings.resolve(w.spec).max_runtime for w in workloads)
    return CLOCK_HEADROOM * budget + STARTUP_HEADROOM_S


def sbatch_flags(flags: Sequence[str]) -> dict:
    """`["--constraint=a100", "--exclusive"]` as submitit's `additional_parameters`."""
    parameters = {}
    for flag in flags:
        if not flag.startswith("--"):
            raise BadSbatchFlag(f"sbatch flag {flag!r} must be written --name or --name=value")
        name, has_value, value = flag[2:].partition("=")
        parameters[name] = value if has_value else True
    return parameters


def executor_parameters(options: SlurmOptions, time_limit: float) -> dict:
    """submitit's AutoExecutor parameters for SLURM jobs under `options`."""
    chosen = {
        "slurm_partition": options.partition, "slurm_gpus_per_node": options.gpus_per_node,
        "slurm_account": options.account, "slurm_qos": options.qos,
        "cpus_per_task": options.cpus_per_task,
        "slurm_array_parallelism": options.max_parallel,
        "slurm_additional_parameters": sbatch_flags(options.extra_flags) or None,
    }
    parameters = {key: value for key, value in chosen.items() if value is not None}
    return dict(parameters, timeout_min=math.ceil(time_limit / 60), slurm_stderr_to_stdout=True)


def make_executor(backend: str, folder: Path, options: SlurmOptions, time_limit: float):
    """submitit's executor for SLURM jobs under `options`, or for local processes."""
    import submitit

    executor = submitit.AutoExecutor(folder=folder, cluster=None if backend == "slurm" else "local")
    if backend == "slurm":
        executor.update_parameters(**executor_parameters(options, time_limit))
    else:
        executor.update_parameters(timeout_min=math.ceil(time_limit / 60))
    return executor


def submit(executor, calls: list[tuple]) -> list:
    """Submit `calls` ((function, *args) each) as one job array; sbatch's refusal is raised."""
    import submitit

    try:  # submitit also prints sbatch's complaint to stderr: it goes into the error instead
        with contextlib.redirect_stderr(io.StringIO()), executor.batch():
            jobs = [executor.submit(*call) for call in calls]
    except (submitit.core.utils.FailedJobError, submitit.core.utils.FailedSubmissionError) as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        reason = "; ".join(line for line in lines if "error" in line.lower()) or " ".join(lines)
        raise SubmissionRefused(f"sbatch refused the jobs: {reason}") from None
    return jobs


def queue_states(job_ids: Sequence[str]) -> dict[str, str] | None:
    """`{job id: state}` of the given jobs SLURM still knows; None when squeue cannot answer.

    Array tasks appear as `<array>_<task>`. Ended jobs stay listed (with `--states=all`) for
    the cluster's MinJobAge; a job no longer listed has ended long ago.
    """
    arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
    try:
        listing = subprocess.run(
            ["squeue", "--noheader", "--array", "--states=all", "--format=%i %T",
             f"--jobs={','.join(arrays)}"],
            capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if listing.returncode != 0 and "Invalid job id" not in listing.stderr:
        return None
    return dict(line.split()[:2] for line in listing.stdout.splitlines() if line.strip())


def ended_state(job, states: dict[str, str] | None) -> str | None:
    """The state a job ended in, or None while it may still run."""
    import submitit

    if not isinstance(job, submitit.SlurmJob):  # submitit's local executor: ask the process
        return job.state.upper() if job.done() else None
    if states is None:  # squeue did not answer: ask again later
        return None
    state = states.get(job.job_id, "ENDED")  # forgotten by SLURM: it ended long ago
    return state if state == "ENDED" or state in ENDED_STATES else None


def wait_for(jobs: list, on_start: Callable[[int], None], poll: float = 2.0):
    """Yield `(index, state)` for each job as it leaves the queue; `on_start` once it runs."""
    import submitit

    waiting, started = set(range(len(jobs))), set()
    while waiting:
        slurm_ids = [jobs[i].job_id for i in waiting if isinstance(jobs[i], submitit.SlurmJob)]
        states = queue_states(slurm_ids) if slurm_ids else {}
        for index in sorted(waiting):
            if index not in started and (states or {}).get(jobs[index].job_id) != "PENDING":
                started.add(index)
                on_start(index)
            state = ended_state(jobs[index], states)
            if state is not None:
                waiting.discard(index)
                yield index, state
        if waiting:
            time.sleep(poll)


def link_log(record_path: Path, log: Path, replace: bool) -> None:
    """Link `log` beside the trial's record as `trial_<n>.log`; an existing link is kept
    unless `replace`. The link is made atomically, so racing submitters cannot trip on it."""
    link = record_path.with_suffix(".log")
    link.parent.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(Path(log).resolve(), link.parent)
    if not replace:
        with contextlib.suppress(FileExistsError):
            os.symlink(target, link)
        return
    temporary = link.with_name(f".{link.name}.{os.getpid()}")
    os.symlink(target, temporary)
    os.replace(temporary, link)


def run_trial_job(record_path: str, *arguments) -> dict:
    """What a cluster job runs: the trial (`backends.run_in_child(*arguments)`), its log linked
    beside its record first unless another process is training the trial right now."""
    import submitit

    try:
        with trial_lock(Path(record_path).with_suffix(".lock"), wait=False):
            pass
    except TrialBusyError:
        pass  # the trial is that process's; its log stays linked
    else:
        link_log(Path(record_path), submitit.JobEnvironment().paths.stdout, replace=True)
    return backends.run_in_child(*arguments)


def job_ending(job, state: str, limit: float) -> tuple[str, str]:
    """How a job that left the queue ended, as (kind, detail):

    ("done", "") when it returned normally (its trial recorded itself), ("error", message) for a
    failure recorded as the trial's, ("busy", message) when another process was training the
    trial, ("unfinished", why) when the trial is to be resumed.
    """
    if job.paths.result_pickle.exists():
        try:
            report = job.result()
        except Exception as error:  # the job's own traceback, as submitit reports it
            return "error", f"cluster job {job.job_id} failed: {error}"
        status = report.get("status", "done") if isinstance(report, dict) else "done"
        if status == "busy":  # another process is training the trial
            return "busy", report.get("message", "")
        if status != "done":  # stopped (interrupted) or a harness error: not the trial's failure
            return "unfinished", report.get("message") or status
        return "done", ""
    if state in TRIAL_FAULT_STATES:
        return "error", TRIAL_FAULT_STATES[state].format(limit=f"{limit / 60:.0f} min")
    return "unfinished", f"the job ended ({state}) before the trial finished"


def settle(job, state: str, trial_id: TrialId, results_dir: Path, limit: float):
    """(kind, detail) of a job's trial once settled: "done" (its record is there), "skipped"
    (another process's record is), "error" (the message to record), "unfinished" (why)."""
    path = trial_id.path(results_dir)
    ending, detail = job_ending(job, state, limit)
    if ending == "busy":  # wait for the process training it, then take its record
        with trial_lock(trial_id.lock_path(results_dir), wait=True):
            pass
        ending = "skipped" if path.exists() else "unfinished"
    if ending == "done" and not await_record(path):
        return "unfinished", f"the job finished but {path} is not visible"
    return ending, detail


def await_record(path: Path, patience: float = 30.0) -> bool:
    """Whether the record exists, allowing `patience` seconds for it to show (a shared file
    system may show another node's new files late)."""
    deadline = time.monotonic() + patience
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(1.0)
    return True


def run_study_on_cluster(
    submission,
    workloads,
    *,
    ruleset: str = "external",
    studies: int = tuning.DEFAULT_STUDIES,
    trials: int | None = None,
    results_dir: str = api.DEFAULT_RESULTS_DIR,
    settings: ProtocolSettings = ProtocolSettings(),
    data_dir: str | None = None,
    backend: str = "slurm",
    options: SlurmOptions = SlurmOptions(),
    checkpoint_every: float = 60.0,
    on_trial=None,
    search_space=None,
    seed_offset: int = 0,
) -> ClusterStudy:
    """Submit the study's missing trials as jobs, wait for them, return what they left.

    `on_trial(index, total, planned, outcome)` is called when a job starts running (outcome
    None) and when it ended with a record; unfinished trials are in the result's `unfinished`.
    """
    if isinstance(submission, str):
        submission = registry.get_submission(submission)
    workloads = [registry.get_workload(w) if isinstance(w, str) else w for w in workloads]
    if settings.budget_multiplier == 1.0:
        settings = dataclasses.replace(
            settings, budget_multiplier=tuning.DEFAULT_BUDGET_MULTIPLIER[ruleset])
    plan = tuning.plan_study(submission, workloads, ruleset, studies, trials, search_space,
                             seed_offset)
    notify = on_trial or (lambda *args: None)
    results_dir = Path(results_dir).resolve()
    ids = [TrialId(ruleset, submission.name, p.workload.name, p.study, p.trial) for p in plan]
    missing = [i for i, tid in enumerate(ids) if not tid.path(results_dir).exists()]

    limit = options.time_limit or job_time_limit(workloads, settings)
    executor = make_executor(backend, results_dir / ruleset / submission.name / "jobs",
                             options, limit)
    jobs = submit(executor, [job_call(plan[i], ruleset, results_dir, settings, data_dir,
                                      submission, checkpoint_every) for i in missing])
    for i, job in zip(missing, jobs):
        link_log(ids[i].path(results_dir), job.paths.stdout, replace=False)  # the job relinks

    settled, unfinished = {}, []
    started = lambda k: notify(k, len(missing), plan[missing[k]], None)  # noqa: E731
    for position, state in wait_for(jobs, started):
        index, job = missing[position], jobs[position]
        path = ids[index].path(results_dir)
        ending, detail = settle(job, state, ids[index], results_dir, limit)
        if ending == "unfinished":
            unfinished.append(UnfinishedTrial(ids[index], job.job_id, state, detail,
                                              path.with_suffix(".log")))
            continue
        if ending in ("done", "skipped"):
            settled[index] = api.RunOutcome(read_record(path), path, skipped=ending == "skipped")
        else:
            planned = plan[index]
            settled[index] = backends.record_failure(
                planned.workload, submission, planned.hparams, planned.seed, ids[index],
                results_dir, settings, detail)
        notify(position, len(missing), plan[index], settled[index])
    outcomes = [settled.get(i) or api.RunOutcome(read_record(tid.path(results_dir)),
                                                  tid.path(results_dir), skipped=True)
                for i, tid in enumerate(ids) if i in settled or i not in missing]
    return ClusterStudy(outcomes, unfinished)


def job_call(planned, ruleset, results_dir, settings, data_dir, submission, checkpoint_every):
    """The function and arguments one job runs: the trial, in the job's own process."""
    kwargs = dict(hparams=planned.hparams, seed=planned.seed, ruleset=ruleset,
                  study=planned.study, trial=planned.trial, results_dir=str(results_dir),
                  settings=settings, data_dir=data_dir, checkpoint_every=checkpoint_every)
    path = TrialId(ruleset, submission.name, planned.workload.name, planned.study,
                   planned.trial).path(results_dir)
    return (run_trial_job, str(path), registry.workload_reference(planned.workload),
            str(submission.path), submission.name, kwargs, jax.config.jax_compilation_cache_dir)
