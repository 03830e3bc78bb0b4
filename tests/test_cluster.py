"""A study spread over submitit jobs (local processes: the same code path as SLURM), and the
sbatch options of SLURM jobs. Studies on a real cluster are in tests/slurm (make test-slurm)."""

import json
import os

import pytest

from bench import cluster
from bench.protocol import ProtocolSettings
from bench.submission import load_submission
from tests.conftest import TINY, write_submission
from tests.test_isolation import HOSTILE

submitit = pytest.importorskip("submitit")


def test_study_over_local_submitit_jobs(tmp_path):
    path = write_submission(tmp_path, HOSTILE, name="hostile")
    (path.parent / "search_space.json").write_text(json.dumps(
        {"mode": {"feasible_points": ["fine", "crash"]}}))
    result = cluster.run_study_on_cluster(
        load_submission(path), [TINY], ruleset="external", studies=1, trials=2,
        results_dir=str(tmp_path / "r"), backend="local",
        settings=ProtocolSettings(max_steps=5, eval_period=1e6, evaluate_test=False),
        options=cluster.SlurmOptions(time_limit=300),
    )
    [fine] = result.outcomes
    assert fine.record["hparams"]["mode"] == "fine" and fine.record["outcome"] == "budget"
    # a job killed (here by its own SIGKILL) leaves the trial unfinished, to resume, not `error`
    [crashed] = result.unfinished
    assert crashed.trial_id.trial != fine.record["trial"]
    assert not crashed.trial_id.path(tmp_path / "r").exists()
    assert len(list((tmp_path / "r").rglob("trial_*.json"))) == 1
    # each job's log is linked beside its record
    assert "Starting with JobEnvironment" in crashed.log.read_text()


def test_only_chosen_options_reach_sbatch():
    assert cluster.executor_parameters(cluster.SlurmOptions(), 3600.5) == {
        "timeout_min": 61, "slurm_stderr_to_stdout": True}
    chosen = cluster.SlurmOptions(
        partition="gpu", gpus_per_node=1, cpus_per_task=8, account="lab", qos="high",
        extra_flags=("--constraint=a100", "--exclusive"), max_parallel=4)
    assert cluster.executor_parameters(chosen, 60) == {
        "slurm_partition": "gpu", "slurm_gpus_per_node": 1, "cpus_per_task": 8,
        "slurm_account": "lab", "slurm_qos": "high", "slurm_array_parallelism": 4,
        "slurm_additional_parameters": {"constraint": "a100", "exclusive": True},
        "timeout_min": 1, "slurm_stderr_to_stdout": True,
    }
    with pytest.raises(cluster.BadSbatchFlag, match="'constraint=a100'"):
        cluster.sbatch_flags(["constraint=a100"])


def fake_sbatch(tmp_path, monkeypatch, body: str):
    """An `sbatch` on PATH that runs `body` (its job script is $1), and an `srun` beside it
    (submitit 1.5.4 looks for srun, as on a cluster, before it writes the job script)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sbatch", body), ("srun", "exit 0")):
        (bin_dir / name).write_text(f"#!/bin/sh\n{text}\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_options_reach_the_sbatch_script(tmp_path, monkeypatch):
    fake_sbatch(tmp_path, monkeypatch,
                f'cp "$1" {tmp_path}/script.sh; echo "Submitted batch job 42"')
    executor = submitit.AutoExecutor(folder=tmp_path / "jobs", cluster="slurm")
    options = cluster.SlurmOptions(partition="gpu", gpus_per_node=2, account="lab", qos="high",
                                   extra_flags=("--constraint=a100",), max_parallel=3)
    executor.update_parameters(**cluster.executor_parameters(options, 5400))
    jobs = cluster.submit(executor, [(print, "a"), (print, "b")])
    assert [job.job_id for job in jobs] == ["42_0", "42_1"]
    script = (tmp_path / "script.sh").read_text()
    for line in ("--partition=gpu", "--gpus-per-node=2", "--account=lab", "--qos=high",
                 "--constraint=a100", "--time=90", "--array=0-1%2"):
        assert f"#SBATCH {line}" in script


def test_refused_submission_names_sbatch_message(tmp_path, monkeypatch):
    fake_sbatch(tmp_path, monkeypatch, "echo 'sbatch: error: invalid partition specified: "
                "nope' >&2; echo 'sbatch: error: Batch job submission failed: Invalid partition "
                "name specified' >&2; exit 1")
    executor = submitit.AutoExecutor(folder=tmp_path / "jobs", cluster="slurm")
    executor.update_parameters(**cluster.executor_parameters(cluster.SlurmOptions(), 60))
    with pytest.raises(cluster.SubmissionRefused) as refused:
        cluster.submit(executor, [(print, "a")])
    assert str(refused.value) == (
        "sbatch refused the jobs: sbatch: error: invalid partition specified: nope; "
        "sbatch: error: Batch job submission failed: Invalid partition name specified")


def test_job_time_limit_leaves_headroom_over_the_budget():
    from bench import registry

    workload = registry.get_workload("mnist1d_mlp")
    budget = workload.spec.max_runtime
    assert cluster.job_time_limit([workload], ProtocolSettings()) == 1.5 * budget + 15 * 60
    tripled = ProtocolSettings(budget_multiplier=3.0, max_runtime=1000.0)
    assert cluster.job_time_limit([workload], tripled) == 1.5 * 3000 + 15 * 60


class EndedJob:
    """A job that left the queue without returning anything (no result file)."""

    job_id = "7_1"

    def __init__(self, folder):
        self.paths = type("Paths", (), {"result_pickle": folder / "7_1_0_result.pkl"})()


@pytest.mark.parametrize("state, kind", [
    ("TIMEOUT", "error"), ("OUT_OF_MEMORY", "error"), ("CANCELLED", "unfinished"),
    ("FAILED", "unfinished"), ("PREEMPTED", "unfinished"), ("NODE_FAIL", "unfinished"),
    ("ENDED", "unfinished"),
])
def test_only_time_and_memory_limits_are_the_trials_failure(tmp_path, state, kind):
    ending, detail = cluster.job_ending(EndedJob(tmp_path), state, limit=5400)
    assert ending == kind
    if state == "TIMEOUT":
        assert detail == "the cluster job ran past its time limit of 90 min and was stopped"


def test_queue_states_of_array_tasks(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\n'
                                    'printf "12_0 RUNNING\\n12_1 PENDING\\n13 CANCELLED\\n"\n')
    (bin_dir / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert cluster.queue_states(["12_0", "12_1", "13"]) == {
        "12_0": "RUNNING", "12_1": "PENDING", "13": "CANCELLED"}
    assert "--jobs=12,13" in (tmp_path / "args").read_text()
    (bin_dir / "squeue").write_text("#!/bin/sh\necho 'slurm_load_jobs error: Unable to "
                                    "contact slurm controller' >&2\nexit 1\n")
    assert cluster.queue_states(["12_0"]) is None  # no answer: the jobs may still run
