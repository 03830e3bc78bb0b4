"""Tuning rulesets: which trials make up a study, and running the ones still missing.

Two rulesets, as in AlgoPerf (Dahl et al. 2023, sec. 5):

- `external`: a study is `trials` trials whose hyperparameters are drawn by quasi-random search
  from the submission's `search_space.json` (merged over its default point). The draws depend only
  on the study number, so every workload of a study sees the same points, and re-planning a study
  gives the same trials. The study's result is its fastest trial that reached the target.
- `self`: no workload-specific tuning. One trial per study at the submission's default point,
  under a budget `budget_multiplier` times the workload's (AlgoPerf v0.5 gave self-tuning 3x the
  external budget; later rules 1.5x; 3 is our default).

AlgoPerf runs 5 studies of 5 trials for external tuning and 5 studies for self-tuning; those are
the defaults here, overridable for quick runs (`--studies 1 --trials 2`).

Trial seeds are `seed_offset + 1000 * study + trial`: explicit, recorded, different for every
trial. The offset (default 0) makes a second, independent run of the same studies: its trial
seeds, and under `external` its search-space draws (seeded `seed_offset + study`), differ from
the first run's. Offsets that are multiples of `RUN_SEED_STRIDE` never give two runs a seed in
common (up to 1,000 studies of 1,000 trials).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import queue
from collections.abc import Callable, Sequence
from typing import Any

from bench import api, registry
from bench.protocol import ProtocolSettings
from bench.search_space import SearchSpaceError, load_search_space
from bench.submission import Submission, resolve_hparams
from bench.trial import backends
from bench.trial.record import TrialId
from bench.workload import Workload

RULESETS = ("external", "self")
DEFAULT_STUDIES = 5
DEFAULT_TRIALS = {"external": 5, "self": 1}
DEFAULT_BUDGET_MULTIPLIER = {"external": 1.0, "self": 3.0}
RUN_SEED_STRIDE = 1_000_000  # seed offset between independent runs: no seed in common


@dataclasses.dataclass(frozen=True)
class PlannedTrial:
    workload: Workload
    study: int
    trial: int
    seed: int
    hparams: dict[str, Any]


def trial_seed(study: int, trial: int, seed_offset: int = 0) -> int:
    return seed_offset + 1000 * study + trial


def study_points(submission: Submission, ruleset: str, study: int, trials: int,
                 search_space=None, seed_offset: int = 0) -> list[dict]:
    """The hyperparameter points of one study under `ruleset`; `search_space` (a path) replaces
    the submission's own search space file. External draws are seeded `seed_offset + study`."""
    if ruleset == "self":
        return [dict(submission.default_hparams)]
    if ruleset != "external":
        raise ValueError(f"unknown ruleset {ruleset!r}; choose one of {', '.join(RULESETS)}")
    search_space = search_space or submission.search_space_path
    if search_space is None:
        raise SearchSpaceError(
            f"submission {submission.name} has no search_space.json beside {submission.path.name}; "
            "external tuning needs one (or use --ruleset self)"
        )
    space = load_search_space(search_space)
    if not submission.open_hparams:
        space.check_names(submission.default_hparams, owner=f"submission {submission.name}")
    draws = space.sample(trials, seed=seed_offset + study)
    return [resolve_hparams(submission, point) for point in draws]


def plan_study(
    submission: Submission,
    workloads: Sequence[Workload],
    ruleset: str = "external",
    studies: int = DEFAULT_STUDIES,
    trials: int | None = None,
    search_space=None,
    seed_offset: int = 0,
) -> list[PlannedTrial]:
    """Every trial of `studies` studies on each workload, in the order they will run."""
    if seed_offset < 0:
        raise ValueError("seed_offset must not be negative")
    if studies < 1:
        raise ValueError("studies must be at least 1")
    trials = DEFAULT_TRIALS[ruleset] if trials is None else trials
    if ruleset == "self":
        trials = 1
    if trials < 1:
        raise ValueError("trials must be at least 1")
    plan = []
    for study in range(studies):
        points = study_points(submission, ruleset, study, trials, search_space, seed_offset)
        for workload in workloads:
            for trial, point in enumerate(points):
                seed = trial_seed(study, trial, seed_offset)
                plan.append(PlannedTrial(workload, study, trial, seed, point))
    return plan


def run_study(
    submission: str | Submission,
    workloads: Sequence[str | Workload],
    *,
    ruleset: str = "external",
    studies: int = DEFAULT_STUDIES,
    trials: int | None = None,
    results_dir: str = api.DEFAULT_RESULTS_DIR,
    settings: ProtocolSettings = ProtocolSettings(),
    data_dir: str | None = None,
    on_trial: Callable[[int, int, PlannedTrial, Any], None] | None = None,
    on_progress=None,
    isolate: bool = False,
    jobs: int = 1,
    time_limit: float | None = None,
    checkpoint_every: float = 60.0,
    search_space=None,
    seed_offset: int = 0,
) -> list[api.RunOutcome]:
    """Run every trial of the study that has no record yet; finished trials are skipped.

    `seed_offset` shifts every trial seed (and external draws) for an independent run; a
    results directory holding records of another offset refuses them (another seed).

    `on_trial(index, total, planned, outcome)` is called before each trial (outcome None) and
    after it, with its `RunOutcome`, or the `TrialBusyError` of a trial another process is
    training right now (it is left to that process and not in the returned list). The budget
    multiplier of the ruleset applies unless `settings` sets its own.

    With `isolate`, each trial runs in its own process (`bench.trial.backends.isolated`): a
    crash, hang or out-of-memory kill becomes that trial's `error` record and the study goes on.
    `jobs > 1` runs that many isolated trials at once, each on a device of its own (one GPU per
    trial on a multi-GPU machine; on a CPU machine its share of the cores; see
    `bench.devices.pin_to_device`). Trials sharing a machine can slow each other down, and the
    protocol counts wall-clock submission time, so parallel trials are for quick looks and for
    machines with one accelerator per job; timings meant for a leaderboard should use `jobs=1`.
    On the 2-core development machine two trials at once, one per core, each trained as fast as
    one alone, but the cpu-v3 clock counted them 1.0-1.07x the reference seconds a step
    (`benchmarks/reference_clock.py --only 4`), within a trial-to-trial spread of about 7%.
    """
    if isinstance(submission, str):
        submission = registry.get_submission(submission)
    workloads = [registry.get_workload(w) if isinstance(w, str) else w for w in workloads]
    if settings.budget_multiplier == 1.0:
        settings = dataclasses.replace(settings, budget_multiplier=DEFAULT_BUDGET_MULTIPLIER[ruleset])
    plan = plan_study(submission, workloads, ruleset, studies, trials, search_space, seed_offset)
    notify = on_trial or (lambda *args: None)
    isolate = isolate or jobs > 1
    backend = backends.isolated(time_limit) if isolate else backends.inline(on_progress)

    free_slots: queue.Queue = queue.Queue()  # device slots of parallel trials
    for slot in range(jobs):
        free_slots.put(slot)

    def run_one(index: int) -> api.RunOutcome | None:
        slot = free_slots.get() if jobs > 1 else None
        try:
            return run_planned(index, slot)
        finally:
            if slot is not None:
                free_slots.put(slot)

    def run_planned(index: int, slot: int | None) -> api.RunOutcome | None:
        planned = plan[index]
        notify(index, len(plan), planned, None)
        request = trial_request(submission, planned, ruleset, results_dir, settings, data_dir,
                                checkpoint_every)
        try:
            outcome = backend(dataclasses.replace(request, device_slot=slot, device_slots=jobs))
        except api.TrialBusyError as busy:
            notify(index, len(plan), planned, busy)
            return None
        notify(index, len(plan), planned, outcome)
        return outcome

    if jobs <= 1:
        outcomes = [run_one(index) for index in range(len(plan))]
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            outcomes = list(pool.map(run_one, range(len(plan))))
    return [outcome for outcome in outcomes if outcome is not None]


def trial_request(submission: Submission, planned: PlannedTrial, ruleset: str, results_dir,
                  settings: ProtocolSettings, data_dir=None,
                  checkpoint_every: float = 60.0) -> backends.TrialRequest:
    """The request that runs one planned trial of a study."""
    trial_id = TrialId(ruleset, submission.name, planned.workload.name, planned.study,
                       planned.trial)
    return backends.TrialRequest(
        planned.workload, submission, planned.hparams, trial_id, seed=planned.seed,
        results_dir=results_dir, settings=settings, data_dir=data_dir,
        checkpoint_every=checkpoint_every)


# ------------------------------------------------------------------------------- backends

STUDY_BACKENDS = ("processes", "slurm", "submitit-local")
"""processes: on this machine; slurm: one submitit job per trial on a SLURM cluster (results
directory on a shared file system); submitit-local: the same jobs as local processes."""


def run_study_on(
    backend: str,
    submission: str | Submission,
    workloads: Sequence[str | Workload],
    *,
    slurm=None,
    isolate: bool = True,
    jobs: int | None = None,
    time_limit: float | None = None,
    **study: Any,
) -> list[api.RunOutcome]:
    """`run_study` on one of `STUDY_BACKENDS`; `study` holds run_study's other keywords
    (ruleset, studies, trials, results_dir, settings, data_dir, on_trial, seed_offset).

    On a cluster, `slurm` is a `bench.cluster.SlurmOptions`, `jobs` limits the trials running
    at once (default: no limit) and `time_limit` is each job's (default: from the budget).
    Trials whose jobs ended without a record raise `bench.cluster.TrialsUnfinished` once every
    job has ended; running the same study again resumes them.
    """
    if backend == "processes":
        return run_study(submission, workloads, isolate=isolate, jobs=jobs or 1,
                         time_limit=time_limit, **study)
    if backend not in STUDY_BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(STUDY_BACKENDS)}")
    from bench import cluster

    options = dataclasses.replace(slurm or cluster.SlurmOptions(), max_parallel=jobs,
                                  time_limit=time_limit)
    result = cluster.run_study_on_cluster(
        submission, workloads, backend="slurm" if backend == "slurm" else "local",
        options=options, **study)
    if result.unfinished:
        raise cluster.TrialsUnfinished(result)
    return result.outcomes
