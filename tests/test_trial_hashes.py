"""Hashes cover what they name: a workload's data, model and loss; a submission's code and files."""

import json

from bench import registry
from bench.sources import files_sha256, project_files
from bench.submission import load_submission, source_files, trial_sha256
from bench.trial.hashes import workload_modules, workload_sha256
from tests.conftest import SGD_SUBMISSION, write_submission


def test_the_workload_hash_covers_the_model_and_the_shared_helpers():
    mnist = registry.get_workload("mnist")
    modules = project_files(workload_modules(mnist))
    # the CNN is in mnist.py, the loss in _image_classification.py, the batches in _pipeline.py
    assert {"workloads.mnist", "workloads._image_classification", "workloads._pipeline",
            "bench.workload"} <= set(modules)
    assert not any(name.startswith(("jax", "flax", "numpy")) for name in modules)
    assert len(workload_sha256(mnist)) == 64
    fashion = registry.get_workload("fashion_mnist")
    assert workload_sha256(fashion) != workload_sha256(mnist)  # their specs differ


def test_files_hash_changes_with_any_file_and_not_with_the_folder(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    before = files_sha256({"m.a": a, "m.b": b})
    b.write_text("y = 3\n")
    assert files_sha256({"m.a": a, "m.b": b}) != before
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "a.py").write_text("x = 1\n")
    (moved / "b.py").write_text("y = 3\n")
    assert files_sha256({"m.a": moved / "a.py", "m.b": moved / "b.py"}) == files_sha256(
        {"m.a": a, "m.b": b})


def test_the_submission_hash_covers_its_folder_and_the_project_code_it_imports():
    nadamw = registry.get_submission("nadamw")
    files = source_files(nadamw.path)
    assert {"submission/submission.py", "submission/search_space.json",
            "bench.optim.nadam"} <= set(files)
    refined = source_files(registry.get_submission("nadamw_refined").path)
    assert {"bench.refine", "bench.schedules", "bench.optim.nadam"} <= set(refined)


def test_the_submission_hash_changes_with_its_search_space(tmp_path):
    path = write_submission(tmp_path, SGD_SUBMISSION)
    before = load_submission(path).source_sha256
    (path.parent / "search_space.json").write_text(json.dumps(
        {"learning_rate": {"min": 0.01, "max": 1.0}}))
    assert load_submission(path).source_sha256 != before


def test_the_trial_hash_covers_a_file_a_hyperparameter_points_to(tmp_path):
    submission = registry.get_submission("nadamw_refined")
    schedule = tmp_path / "schedule.json"
    schedule.write_text('{"multipliers": [1.0, 0.5, 0.0]}')
    point = dict(submission.default_hparams, schedule_file=str(schedule))
    first = trial_sha256(submission, point)
    assert first != submission.source_sha256
    schedule.write_text('{"multipliers": [1.0, 0.9, 0.0]}')
    assert trial_sha256(submission, point) != first
    assert trial_sha256(submission, submission.default_hparams) == submission.source_sha256
