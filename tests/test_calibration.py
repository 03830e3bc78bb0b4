"""Target calibration: best learning rate by median best metric, target from its seeds."""

import pytest

from bench.calibration import calibrate
from bench.submission import HparamsError


def test_calibration_picks_the_best_rate_and_its_median(sgd_path):
    lines = []
    runs, target, best_lr = calibrate("tests.conftest:TINY", str(sgd_path), [0.001, 0.1],
                                      [0, 1], report=lines.append)
    assert len(runs) == 4 and len(lines) == 4
    assert all(run.steps == 100 for run in runs)  # the whole step hint, target unreachable
    assert best_lr == 0.1  # lower validation loss (the metric's direction) wins
    best = sorted(r.best_metric for r in runs if r.learning_rate == 0.1)
    assert target == pytest.approx(sum(best) / 2)
    assert target < min(r.best_metric for r in runs if r.learning_rate == 0.001)


def test_calibration_overrides_must_be_hyperparameters(sgd_path):
    with pytest.raises(HparamsError):
        calibrate("tests.conftest:TINY", str(sgd_path), [0.1], [0], overrides={"momentum": 0.9})


def test_calibrate_command(sgd_path):
    from click.testing import CliRunner

    from bench.cli import main

    result = CliRunner().invoke(main, ["calibrate", "-w", "tests.conftest:TINY", "-s",
                                       str(sgd_path), "--learning-rates", "0.001,0.1",
                                       "--seeds", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.count("lr=") == 2 and "best learning rate 0.1;" in result.output


def test_calibrate_command_errors_are_one_line(sgd_path):
    from click.testing import CliRunner

    from bench.cli import main

    result = CliRunner().invoke(main, ["calibrate", "-w", "tests.conftest:TINY", "-s",
                                       str(sgd_path), "--learning-rates", "0.1", "--hparam",
                                       "momentum=0.9"])
    assert result.exit_code == 2 and "unknown hyperparameter(s) momentum" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(main, ["calibrate", "-w", "tests.conftest:TINY",
                                       "--learning-rates", "fast"])
    assert result.exit_code == 2 and "comma-separated floats" in result.output
