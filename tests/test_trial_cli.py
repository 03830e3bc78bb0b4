"""The trial path from the command line: bad records listed, bad input refused before training,
errors exit non-zero, resumption announced, Ctrl-C on a study leaves a checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from bench.cli import main
from bench.trial.record import SCHEMA_VERSION, TrialId, write_record
from tests.conftest import write_submission
from tests.test_trial_record import complete_record

ROOT = Path(__file__).resolve().parents[1]

RAISES = '''
"""Fails when it builds its optimizer."""
DEFAULT_HPARAMS = {"learning_rate": 0.1}

def make_optimizer(hparams, workload_info):
    raise RuntimeError("no optimizer today")
'''

SLOW_SGD = '''
"""SGD too slow to reach any target: trials end at their step or time limit."""
import optax

DEFAULT_HPARAMS = {"learning_rate": 1e-6}

def make_optimizer(hparams, workload_info):
    return optax.sgd(hparams["learning_rate"])
'''


def test_score_skip_invalid_lists_every_bad_record_and_goes_on(tmp_path):
    for study in (0, 1):
        trial = TrialId("external", "A", "w", study, 0)
        write_record(trial.path(tmp_path), complete_record(
            ruleset="external", submission="A", workload="w", study=study, outcome="hit",
            time_to_target=1.0 + study, steps_to_target=10,
            workload_spec={"target_metric": "accuracy", "validation_target": 0.9,
                           "higher_is_better": True, "variant_of": None}))
    fieldless = tmp_path / "external" / "A" / "w" / "study_2" / "trial_0.json"
    fieldless.parent.mkdir(parents=True)
    fieldless.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "outcome": "hit"}))
    corrupt = tmp_path / "external" / "A" / "w" / "study_3" / "trial_0.json"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text("{")
    runner = CliRunner()
    refused = runner.invoke(main, ["score", str(tmp_path), "--bootstrap", "0"])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert str(fieldless) in refused.output and str(corrupt) in refused.output
    assert "lacks field(s) ruleset" in refused.output
    scored = runner.invoke(main, ["score", str(tmp_path), "--bootstrap", "0", "--skip-invalid",
                                  "--out", str(tmp_path / "out")])
    assert scored.exit_code == 0, scored.output
    assert str(fieldless) in scored.output and str(corrupt) in scored.output
    assert (tmp_path / "out" / "leaderboard.md").exists()


def test_a_hyperparameter_of_the_wrong_kind_is_one_line_and_records_nothing(tmp_path):
    result = CliRunner().invoke(main, [
        "run", "-w", "tests.conftest:TINY", "-s", str(write_submission(tmp_path, SLOW_SGD)),
        "--hparam", "learning_rate=abc", "--results-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "learning_rate='abc' is a string" in result.output
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("trial_*"))


def test_a_run_that_ends_in_error_exits_non_zero(tmp_path):
    result = CliRunner().invoke(main, [
        "run", "-w", "tests.conftest:TINY", "-s", str(write_submission(tmp_path, RAISES)),
        "--max-steps", "5", "--results-dir", str(tmp_path / "r")])
    assert result.exit_code == 1 and "no optimizer today" in result.output


def test_an_unwritable_results_directory_is_one_line_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(main, [
        "run", "-w", "tests.conftest:TINY", "-s", str(write_submission(tmp_path, SLOW_SGD)),
        "--max-steps", "5", "--results-dir", str(blocker / "r")])
    assert result.exit_code == 2 and "cannot write trial records" in result.output
    assert "Traceback" not in result.output and "step" not in result.output


def start(command, env=None, **kwargs):
    """`bench COMMAND` in a session of its own, with Ctrl-C (SIGINT) as at a terminal.

    A process started in the background by a non-interactive shell (`make test &`, nohup) has
    SIGINT ignored, and Python then never installs its KeyboardInterrupt handler: the study
    would not see the test's Ctrl-C at all. So the child gets SIGINT's default back.
    """
    env = env or dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "bench.cli", *command], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=default_sigint, **kwargs)


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(path: Path, process, seconds: float = 120.0) -> None:
    deadline = time.time() + seconds
    while not path.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert path.exists(), f"{path} did not appear"


def test_ctrl_c_on_a_study_leaves_a_checkpoint_and_the_rerun_resumes(tmp_path):
    submission = write_submission(tmp_path, SLOW_SGD, name="slow")
    command = ["study", "-s", str(submission), "-w", "tests.conftest:TINY", "--ruleset", "self",
               "--studies", "1", "--max-runtime", "1000", "--max-steps", "30000",
               "--checkpoint-every", "0.2", "--results-dir", str(tmp_path / "r")]
    trial = TrialId("self", "slow", "tiny")
    study = start(command)
    wait_for(trial.checkpoint_path(tmp_path / "r"), study)
    os.killpg(study.pid, signal.SIGINT)  # what Ctrl-C at the terminal does
    output, _ = study.communicate(timeout=60)
    assert study.returncode == 130, output
    assert not trial.path(tmp_path / "r").exists(), "the trial finished before Ctrl-C"
    assert trial.checkpoint_path(tmp_path / "r").exists()
    step = json.loads(subprocess.run(
        [sys.executable, "-c", "import sys, json; from bench.trial.checkpoint import read_meta; "
         "print(json.dumps(read_meta(__import__('pathlib').Path(sys.argv[1]))))",
         str(trial.checkpoint_path(tmp_path / "r"))],
        capture_output=True, text=True, cwd=ROOT, check=True).stdout)["step"]
    assert 0 < step < 30000
    rerun = start(command)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert f"(resumed from step {step})" in output
    record = json.loads(trial.path(tmp_path / "r").read_text())
    assert record["resumed"] == 1 and record["steps"] == 30000


COUNTED = '''
"""SGD that notes every start of a trial, and a second process training it at the same time."""
import fcntl
import os
from pathlib import Path

import optax

DEFAULT_HPARAMS = {"learning_rate": 1e-6}
HELD = []

def make_optimizer(hparams, workload_info):
    folder = Path(os.environ["BENCH_TEST_DIR"])
    with open(folder / "starts", "a") as starts:
        starts.write(f"{hparams['learning_rate']}\\n")
    handle = open(folder / f"training-{hparams['learning_rate']}", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        (folder / "overlap").write_text(str(hparams["learning_rate"]))
    HELD.append(handle)
    return optax.sgd(hparams["learning_rate"])
'''


def test_two_studies_on_one_directory_train_each_trial_once(tmp_path):
    submission = write_submission(tmp_path, COUNTED, name="counted")
    rates = [1e-6, 2e-6, 3e-6, 4e-6]
    (submission.parent / "search_space.json").write_text(json.dumps(
        {"learning_rate": {"feasible_points": rates}}))
    command = ["study", "-s", str(submission), "-w", "tests.conftest:TINY",
               "--studies", "1", "--trials", str(len(rates)), "--max-runtime", "1000",
               "--max-steps", "3000", "--results-dir", str(tmp_path / "r")]
    env = {"BENCH_TEST_DIR": str(tmp_path)}
    studies = [start(command, env=dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT),
                                       **env)) for _ in range(2)]
    outputs = [study.communicate(timeout=300)[0] for study in studies]
    assert all(study.returncode == 0 for study in studies), outputs
    assert len(list((tmp_path / "r").rglob("trial_*.json"))) == len(rates)
    starts = (tmp_path / "starts").read_text().split()
    assert sorted(starts) == sorted(str(rate) for rate in rates), starts  # each trained once
    assert not (tmp_path / "overlap").exists()
