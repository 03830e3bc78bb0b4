"""LR sensitivity (bench.sensitivity, Wortsman et al. 2023, arXiv 2309.14322): the summary on
hand-made numbers, a tiny sweep on TinyRegression, and the `sensitivity` command."""

import json
import math

import click
import numpy as np
import pytest
from click.testing import CliRunner

from bench import sensitivity
from bench.cli.science import sensitivity as sensitivity_command
from tests.conftest import SGD_SUBMISSION, TINY, write_submission


# --------------------------------------------------------------------------------------------
# The figure, by hand
# --------------------------------------------------------------------------------------------


def test_lr_sensitivity_by_hand():
    # L_init = 2; capped losses 1, .5, .3, 2 (diverged); L* = .3; mean of .7, .2, 0, 1.7 = .65
    assert sensitivity.lr_sensitivity([1.0, 0.5, 0.3, None], 2.0) == pytest.approx(0.65)
    # a run that ends worse than it started counts as L_init: capped 2, .5 -> mean of 1.5, 0
    assert sensitivity.lr_sensitivity([3.0, 0.5], 2.0) == pytest.approx(0.75)
    # non-finite final losses count as diverged
    assert sensitivity.lr_sensitivity([math.nan, math.inf, 1.0], 2.0) == pytest.approx(2 / 3)
    # every rate equally good: 0
    assert sensitivity.lr_sensitivity([0.4, 0.4, 0.4], 2.0) == 0.0
    # every rate diverged: all capped at L_init, so L* = L_init and the figure is 0
    assert sensitivity.lr_sensitivity([None, None], 2.0) == 0.0
    with pytest.raises(sensitivity.SensitivityError):
        sensitivity.lr_sensitivity([], 2.0)


def test_trial_numbers_grid_and_parsing():
    assert sensitivity.trial_number(1e-3) == 700
    assert sensitivity.trial_number(3e-3) == 748  # log10(3) = 0.477
    assert sensitivity.trial_number(1.0) == 1000
    with pytest.raises(sensitivity.SensitivityError):
        sensitivity.trial_number(1e4)
    assert sensitivity.log_grid(1e-4, 1e-1, 2) == list(sensitivity.DEFAULT_LRS)
    assert sensitivity.DEFAULT_LRS[:3] == (1e-4, 3.162e-4, 1e-3)
    assert sensitivity.parse_lrs("1e-2, 1e-3,1e-2") == [1e-3, 1e-2]
    for bad in ("a,b", "0.1,-1", ""):
        with pytest.raises(sensitivity.SensitivityError):
            sensitivity.parse_lrs(bad)


def test_fixed_budget_copy_leaves_the_workload_alone():
    fixed = sensitivity.fixed_budget(TINY)
    assert fixed.spec.validation_target == -math.inf
    assert TINY.spec.validation_target == 0.05
    assert not fixed.target_reached({"loss": 0.0})


# --------------------------------------------------------------------------------------------
# A tiny sweep
# --------------------------------------------------------------------------------------------


def test_tiny_sweep_records_points_and_reuses_them(tmp_path):
    sgd = write_submission(tmp_path, SGD_SUBMISSION)
    results = tmp_path / "results"
    rates = [0.01, 0.1, 100.0]  # SGD on this quadratic diverges above lr 1
    sweep = sensitivity.run_sweep(TINY, str(sgd), rates, max_steps=10, results_dir=results)
    assert [p.learning_rate for p in sweep.points] == rates
    small, good, large = sweep.points
    assert large.diverged and large.outcome == "diverged"
    assert not small.diverged and not good.diverged
    # the target (0.05) is reachable, yet every finite run trained its 10 steps
    assert small.steps == good.steps == 10 and small.outcome == good.outcome == "budget"
    assert good.final_loss < small.final_loss < sweep.initial_loss
    assert sweep.best is good
    expected = np.mean([small.final_loss - good.final_loss, 0.0,
                        sweep.initial_loss - good.final_loss])
    assert sweep.sensitivity == pytest.approx(expected)
    assert good.record_path == results / "sensitivity/sgd/tiny/study_10/trial_900.json"
    assert not any(p.skipped for p in sweep.points)

    again = sensitivity.run_sweep(TINY, str(sgd), [0.1, 100.0], max_steps=10,
                                  results_dir=results)
    assert all(p.skipped for p in again.points)
    assert again.points[0].final_loss == good.final_loss

    plot = sensitivity.plot_sweeps([sweep, again], tmp_path / "lr.png")
    assert plot.stat().st_size > 0


def test_sweep_from_another_point_needs_another_ruleset(tmp_path):
    results = tmp_path / "results"
    first = sensitivity.run_sweep(TINY, "nadamw", [0.01], max_steps=3, results_dir=results)
    assert first.points[0].record_path.parts[-5] == "sensitivity"
    with pytest.raises(sensitivity.SensitivityError, match="another --ruleset"):
        sensitivity.run_sweep(TINY, "nadamw", [0.01], max_steps=3, results_dir=results,
                              hparams={"weight_decay": 0.0})
    other = sensitivity.run_sweep(TINY, "nadamw", [0.01], max_steps=3, results_dir=results,
                                  hparams={"weight_decay": 0.0}, ruleset="sensitivity-no-wd")
    record = json.loads(other.points[0].record_path.read_text())
    assert record["hparams"]["weight_decay"] == 0.0 and record["hparams"]["learning_rate"] == 0.01
    assert record["ruleset"] == "sensitivity-no-wd"
    with pytest.raises(sensitivity.SensitivityError, match="swept hyperparameter"):
        sensitivity.run_sweep(TINY, "nadamw", [0.01], max_steps=3, results_dir=results,
                              hparams={"learning_rate": 0.1})


def test_sweep_rejects_a_submission_without_the_hyperparameter(tmp_path):
    source = SGD_SUBMISSION.replace('{"learning_rate": 0.1}', '{"lr": 0.1}').replace(
        'hparams["learning_rate"]', 'hparams["lr"]')
    path = write_submission(tmp_path, source, name="sgd_lr")
    with pytest.raises(sensitivity.SensitivityError, match="no hyperparameter 'learning_rate'"):
        sensitivity.run_sweep(TINY, str(path), [0.1], max_steps=2, results_dir=tmp_path)
    with pytest.raises(sensitivity.SensitivityError, match="2% apart"):
        sensitivity.run_sweep(TINY, str(path), [0.1, 0.101], max_steps=2,
                              results_dir=tmp_path, hparam="lr")


def test_a_failing_trial_stops_the_sweep(tmp_path):
    source = SGD_SUBMISSION.replace("return optax.sgd", "raise RuntimeError('no optimizer')\n"
                                    "    return optax.sgd")
    path = write_submission(tmp_path, source, name="broken")
    with pytest.raises(sensitivity.SensitivityError, match="failed: .*no optimizer"):
        sensitivity.run_sweep(TINY, str(path), [0.1], max_steps=2, results_dir=tmp_path)


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def science_cli():
    group = click.Group("bench")
    group.add_command(sensitivity_command)
    return group


def test_sensitivity_command(tmp_path):
    plot = tmp_path / "lr.png"
    result = CliRunner().invoke(science_cli(), [
        "sensitivity", "-s", "nadamw_wsd", "-s", "nadamw", "-w", "tests.conftest:TINY",
        "--lrs", "0.01,0.1", "--max-steps", "5", "--results-dir", str(tmp_path / "r"),
        "--out", str(plot), "--hparam", "warmup_factor=0.1",
    ])
    assert result.exit_code == 0, result.output
    assert "LR sensitivity on tiny" in result.output and "after 5" in result.output
    assert "nadamw_wsd" in result.output and "sensitivity" in result.output
    assert plot.stat().st_size > 0
    record = json.loads((tmp_path / "r/sensitivity/nadamw/tiny/study_5/trial_800.json").read_text())
    assert record["hparams"]["warmup_factor"] == 0.1
    assert "less than the step hint" in result.output


def test_sensitivity_command_user_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(science_cli(), ["sensitivity", "-s", "nadamw", "-w",
                                           "tests.conftest:TINY", "--lrs", "fast"])
    assert result.exit_code == 2 and "comma-separated" in result.output
    result = runner.invoke(science_cli(), ["sensitivity", "-s", "no_such_submission", "-w",
                                           "tests.conftest:TINY", "--lrs", "0.1",
                                           "--results-dir", str(tmp_path)])
    assert result.exit_code == 2 and "unknown submission" in result.output
