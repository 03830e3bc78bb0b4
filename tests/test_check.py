"""`bench check` on good and bad contributed submissions."""

import json

from click.testing import CliRunner

from bench import check
from bench.cli import main
from tests.conftest import SGD_SUBMISSION, write_submission


def test_good_submission_passes_every_check(tmp_path):
    path = write_submission(tmp_path, SGD_SUBMISSION)
    (path.parent / "search_space.json").write_text(
        json.dumps({"learning_rate": {"min": 0.01, "max": 0.1, "scaling": "log"}})
    )
    result = CliRunner().invoke(main, ["check", str(path), "--steps", "5"])
    assert result.exit_code == 0, result.output
    assert result.output.count("│ pass ") == 7 and "FAIL" not in result.output


def test_import_that_hangs_is_cut_off(tmp_path):
    path = write_submission(tmp_path, "while True:\n    pass\n", name="hangs")
    result, submission = check.check_import(path, time_limit=5)
    assert not result.ok and "more than 5s" in result.detail and submission is None


def test_missing_api_fails_with_exit_code(tmp_path):
    path = write_submission(tmp_path, "DEFAULT_HPARAMS = {}\n", name="noapi")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert "does not define `make_optimizer" in result.output


def test_bad_search_space_fails(tmp_path):
    path = write_submission(tmp_path, SGD_SUBMISSION)
    (path.parent / "search_space.json").write_text(json.dumps({"lr": {"min": 1, "max": 0}}))
    results = check.check_submission(path)
    assert [r.name for r in results] == ["import", "default point", "search space"]
    assert not results[-1].ok and "'lr'" in results[-1].detail


def test_diverging_default_point_fails(tmp_path):
    source = SGD_SUBMISSION.replace('"learning_rate": 0.1', '"learning_rate": 1e12')
    path = write_submission(tmp_path, source, name="explodes")
    results = check.check_submission(path, steps=50)
    training = next(r for r in results if r.name.startswith("training"))
    assert not training.ok and training.detail.startswith("diverged")
