"""Plots show every trial, and their file names never collide between different runs."""

from pathlib import Path

from bench import reporting
from bench.sensitivity import Sweep, SweepPoint, plot_name

SPEC = {"target_metric": "accuracy", "validation_target": 0.945, "higher_is_better": True}


def trial(best: float) -> dict:
    return {"evals": [{"step": 0, "submission_time": 0.0, "validation/accuracy": 0.07},
                      {"step": 9, "submission_time": 1.0, "validation/accuracy": best}]}


def test_curves_axis_reaches_every_trials_best_value():
    # The case: trials whose best accuracy was 0.588 and 0.468 under a 0.945 target.
    low, high = reporting.curve_limits([trial(0.95), trial(0.588), trial(0.468)], SPEC)
    assert low <= 0.468 and high == 0.945 + 0.05
    assert reporting.curve_limits([trial(0.95), trial(0.93)], SPEC) == (0.945 - 0.15, 0.945 + 0.05)
    lower_is_better = dict(SPEC, higher_is_better=False)
    assert reporting.curve_limits([trial(0.5)], lower_is_better) is None


def test_curves_plot_written_for_a_trial_far_from_the_target(tmp_path):
    records = [dict(trial(best), ruleset="external", submission=name, workload="w",
                    workload_spec=SPEC) for name, best in (("a", 0.95), ("b", 0.3))]
    (path,) = reporting.plot_curves(records, tmp_path)
    assert path.name == "curves_w.png" and path.stat().st_size > 1000


def sweep(submission: str, rates=(1e-3, 1e-2), steps: int = 100) -> Sweep:
    points = [SweepPoint(rate, 2.3, 0.5, "budget", steps, Path("r.json"), False) for rate in rates]
    return Sweep(submission, "mnist1d", steps, points)


def test_sensitivity_plot_names_differ_whenever_the_sweeps_do():
    base = plot_name([sweep("nadamw")])
    assert base.startswith("mnist1d_learning_rate_sensitivity_nadamw_100steps_")
    others = [
        plot_name([sweep("nadamw"), sweep("nadamw_wsd")]),  # another set of submissions
        plot_name([sweep("nadamw_wsd")]),
        plot_name([sweep("nadamw", rates=(1e-3, 3e-2))]),  # another grid
        plot_name([sweep("nadamw", steps=50)]),
        plot_name([sweep("nadamw")], hparams={"weight_decay": 1.0}),
        plot_name([sweep("nadamw")], seed=1),
        plot_name([sweep("nadamw")], hparam="weight_decay"),
    ]
    assert len({base, *others}) == 1 + len(others)
    assert plot_name([sweep("nadamw")]) == base  # the same sweep again: the same file
