"""Studies on a real SLURM cluster (`make test-slurm`): results, cancellation, kills, requeue.

Trials train mnist1d_mlp for a few thousand steps, so the module runs in a few minutes on 2 cores.
Evaluations are every 100 steps (`eval_every_steps`), so steps to target do not depend on how
fast a node happens to be and records from two backends can be compared.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bench import cluster, registry, tuning
from bench.protocol import ProtocolSettings
from bench.trial.record import read_record
from bench.submission import load_submission
from tests.conftest import write_submission

pytestmark = pytest.mark.slurm

# Adam at the learning rate of its trial; every start of training (fresh or resumed) appends the
# rate to the file named by BENCH_TEST_STARTS, so tests can count how often a trial trained.
COUNTING_ADAM = '''
"""Adam; notes each start of training."""
import os
import optax

DEFAULT_HPARAMS = {"learning_rate": 1e-3}

def make_optimizer(hparams, workload_info):
    with open(os.environ["BENCH_TEST_STARTS"], "a") as handle:
        handle.write(f"{hparams['learning_rate']}\\n")
    return optax.adam(hparams["learning_rate"])
'''
FAST, SLOW = 1e-2, 1e-6  # reaches the target in a few hundred steps / never
SLOW_STEPS = 12_000
SETTINGS = ProtocolSettings(max_steps=SLOW_STEPS, max_runtime=300.0, eval_every_steps=100)


@pytest.fixture
def counting_adam(tmp_path, monkeypatch):
    """A two-trial study: one fast trial, one slow; returns (submission, starts file)."""
    path = write_submission(tmp_path, COUNTING_ADAM, name="counting_adam")
    (path.parent / "search_space.json").write_text(json.dumps(
        {"learning_rate": {"feasible_points": [FAST, SLOW]}}))
    starts = tmp_path / "starts.txt"
    starts.touch()
    monkeypatch.setenv("BENCH_TEST_STARTS", str(starts))
    return load_submission(path), starts


def trial_of(submission, rate: float) -> int:
    """Which trial of study 0 trains at `rate`."""
    plan = tuning.plan_study(submission, [registry.get_workload("mnist1d_mlp")], "external", 1, 2)
    return next(p.trial for p in plan if p.hparams["learning_rate"] == rate)


def study(submission, results, **overrides):
    arguments = dict(ruleset="external", studies=1, trials=2, results_dir=str(results),
                     settings=SETTINGS, checkpoint_every=0.5)
    return cluster.run_study_on_cluster(submission, ["mnist1d_mlp"], **(arguments | overrides))


def study_dir(results, submission) -> Path:
    return Path(results) / "external" / submission.name / "mnist1d_mlp" / "study_0"


def wait_until(condition, timeout=240.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def job_id(log_link: Path) -> str:
    """The SLURM job id in the name of the job's log (`<job>[_<task>]_0_log.out`)."""
    return re.match(r"(\d+(?:_\d+)?)_0_log", os.readlink(log_link).split("/")[-1]).group(1)


def starts(path: Path) -> list[float]:
    return [float(line) for line in path.read_text().split()]


def in_background(function, *args, **kwargs) -> concurrent.futures.Future:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(function, *args, **kwargs)
    pool.shutdown(wait=False)
    return future


def interrupt_slow_trial(submission, results, interrupt) -> tuple[cluster.ClusterStudy, int]:
    """Run the two-trial study; once the fast trial is recorded and the slow one has saved a
    checkpoint, `interrupt(job id of the slow trial)`; return the study's result."""
    slow = trial_of(submission, SLOW)
    folder = study_dir(results, submission)
    running = in_background(study, submission, results)
    wait_until(lambda: (folder / f"trial_{1 - slow}.json").exists()
               and (folder / f"trial_{slow}.ckpt").exists(), what="the slow trial's checkpoint")
    interrupt(job_id(folder / f"trial_{slow}.log"))
    return running.result(timeout=240), slow


def check_resumed(submission, results, starts_file, slow):
    """A rerun finishes the slow trial from its checkpoint and leaves the fast one alone."""
    folder = study_dir(results, submission)
    fast_record = (folder / f"trial_{1 - slow}.json").read_bytes()
    assert not (folder / f"trial_{slow}.json").exists()
    assert (folder / f"trial_{slow}.ckpt").exists()
    rerun = study(submission, results)
    assert rerun.unfinished == []
    assert (folder / f"trial_{1 - slow}.json").read_bytes() == fast_record
    skipped = {o.record["trial"]: o.skipped for o in rerun.outcomes}
    assert skipped == {1 - slow: True, slow: False}
    record = read_record(folder / f"trial_{slow}.json")
    assert record["resumed"] == 1 and record["steps"] == SLOW_STEPS
    assert record["outcome"] == "budget"
    assert starts(starts_file).count(FAST) == 1  # the finished trial never trained again
    assert not (folder / f"trial_{slow}.ckpt").exists()


def test_self_tuning_study_records_the_same_results_as_local_processes(tmp_path):
    settings = ProtocolSettings(max_steps=3000, eval_every_steps=100)
    common = dict(ruleset="self", studies=2, settings=settings)
    on_slurm = cluster.run_study_on_cluster(
        "nadamw", ["mnist1d_mlp"], results_dir=str(tmp_path / "slurm"), **common)
    local = tuning.run_study("nadamw", ["mnist1d_mlp"], results_dir=str(tmp_path / "local"),
                             isolate=True, **common)

    def summary(outcomes):
        return sorted((o.record["study"], o.record["trial"], o.record["outcome"],
                       o.record["steps_to_target"]) for o in outcomes)

    assert on_slurm.unfinished == []
    assert summary(on_slurm.outcomes) == summary(local)
    assert len(on_slurm.outcomes) == 2
    # each record has its job's log beside it
    for outcome in on_slurm.outcomes:
        log = outcome.path.with_suffix(".log")
        assert "Job completed successfully" in log.read_text()


def test_cancelled_job_leaves_a_resumable_trial(tmp_path, counting_adam):
    submission, starts_file = counting_adam
    results = tmp_path / "r"
    first, slow = interrupt_slow_trial(
        submission, results, lambda job: subprocess.run(["scancel", job], check=True))
    assert [(u.trial_id.trial, u.state) for u in first.unfinished] == [(slow, "CANCELLED")]
    assert [o.record["trial"] for o in first.outcomes] == [1 - slow]
    check_resumed(submission, results, starts_file, slow)


def test_job_killed_on_the_node_leaves_a_resumable_trial(tmp_path, counting_adam):
    submission, starts_file = counting_adam
    results = tmp_path / "r"

    def kill_trial_process(job):
        unique_id = subprocess.run(["squeue", "-h", "-j", job, "-o", "%A"], capture_output=True,
                                   text=True, check=True).stdout.strip()  # array task's own id
        listing = subprocess.run(["scontrol", "listpids", unique_id], capture_output=True,
                                 text=True, check=True).stdout.split()
        for pid in (int(word) for word in listing if word.isdigit()):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"submitit.core._submit" in command:
                os.kill(pid, signal.SIGKILL)

    first, slow = interrupt_slow_trial(submission, results, kill_trial_process)
    assert [u.trial_id.trial for u in first.unfinished] == [slow]
    assert first.unfinished[0].state == "FAILED"
    check_resumed(submission, results, starts_file, slow)


def test_requeued_job_resumes_from_its_checkpoint(tmp_path, counting_adam):
    submission, starts_file = counting_adam
    results = tmp_path / "r"

    def requeue(job):
        subprocess.run(["scontrol", "requeue", job], check=True)
        # SLURM holds a requeued job back two minutes; let it start again at once
        wait_until(lambda: "PENDING" in subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout,
            what="the requeued job to be pending")
        subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)

    result, slow = interrupt_slow_trial(submission, results, requeue)
    assert result.unfinished == []
    records = {o.record["trial"]: o.record for o in result.outcomes}
    assert records[slow]["resumed"] == 1 and records[slow]["steps"] == SLOW_STEPS
    assert starts(starts_file).count(SLOW) == 2  # started, then resumed once
    assert starts(starts_file).count(FAST) == 1


def test_unknown_partition_is_an_error_naming_sbatch_message(tmp_path, counting_adam):
    submission, starts_file = counting_adam
    with pytest.raises(cluster.SubmissionRefused, match="(?i)invalid partition"):
        study(submission, tmp_path / "r",
              options=cluster.SlurmOptions(partition="no_such_partition"))
    assert list((tmp_path / "r").rglob("trial_*.json")) == []
    assert starts(starts_file) == []


def test_two_studies_at_once_never_train_a_trial_twice(tmp_path, counting_adam):
    submission, starts_file = counting_adam
    results = tmp_path / "r"
    settings = ProtocolSettings(max_steps=3000, max_runtime=300.0, eval_every_steps=100)
    overlapping = cluster.SlurmOptions(partition="oversubscribed")  # all four jobs run at once
    both = [in_background(study, submission, results, settings=settings, options=overlapping)
            for _ in range(2)]
    outcomes = [future.result(timeout=300) for future in both]
    assert sorted(starts(starts_file)) == sorted([FAST, SLOW])
    for result in outcomes:
        assert result.unfinished == []
        assert sorted(o.record["trial"] for o in result.outcomes) == [0, 1]
        assert all(o.record["outcome"] != "error" for o in result.outcomes)


def test_command_line_reports_a_refused_submission_in_one_line(tmp_path):
    from click.testing import CliRunner

    from bench.cli import main

    result = CliRunner().invoke(main, [
        "study", "-s", "nadamw", "-w", "mnist1d_mlp", "--ruleset", "self", "--studies", "1",
        "--max-steps", "10", "--results-dir", str(tmp_path / "r"), "--backend", "slurm",
        "--slurm-partition", "no_such_partition"])
    assert result.exit_code == 2
    assert "sbatch refused the jobs" in result.output and "nvalid partition" in result.output
    assert "Traceback" not in result.output
    assert list((tmp_path / "r").rglob("trial_*.json")) == []
