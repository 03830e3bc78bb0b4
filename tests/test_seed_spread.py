"""benchmarks/seed_spread.py's levels and ratios, on hand-made curves worked out by hand."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("seed_spread", ROOT / "benchmarks/seed_spread.py")
seed_spread = sys.modules["seed_spread"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(seed_spread)


def curve(*values, every=100):
    """(step, seconds, metric) at steps 0, every, 2 * every, ..."""
    return [(i * every, i * 0.1, v) for i, v in enumerate(values)]


def test_levels_are_what_half_three_quarters_and_all_but_one_of_the_runs_reach():
    bests = [0.90, 0.95, 0.97, 0.99]  # best first: 0.99, 0.97, 0.95, 0.90
    assert seed_spread.levels(bests, higher=True) == {
        "1/2 of runs": 0.97, "3/4 of runs": 0.95, "all but one": 0.95}
    losses = [2.0, 1.5, 1.0, 1.2, 1.1]  # best (lowest) first: 1.0, 1.1, 1.2, 1.5, 2.0
    assert seed_spread.levels(losses, higher=False) == {
        "1/2 of runs": 1.2, "3/4 of runs": 1.5, "all but one": 1.5}


def test_within_and_between_ratios_at_a_level():
    curves = {
        # a's seeds first reach 0.9 at steps 200, 300, 200: within 300/200 = 1.5, median 200
        "a": [curve(0.1, 0.5, 0.9, 0.92), curve(0.1, 0.5, 0.8, 0.9), curve(0.1, 0.6, 0.91, 0.93)],
        # b's at 100, 100, 200: within 2.0, median 100
        "b": [curve(0.2, 0.92, 0.93, 0.94), curve(0.3, 0.9, 0.95, 0.96),
              curve(0.1, 0.5, 0.9, 0.95)],
        # c: one seed of three reaches it (step 300): counted as reached, no ratio, no median
        "c": [curve(0.1, 0.2, 0.3, 0.95), curve(0.1, 0.2, 0.3, 0.4), curve(0.1, 0.1, 0.1, 0.1)],
    }
    row = seed_spread.at_level(curves, 0.9, higher=True)
    assert (row["reached"], row["runs"]) == (7, 9)
    assert row["within"] == pytest.approx(1.75)  # median of 1.5 and 2.0
    assert row["between"] == pytest.approx(2.0)  # 200 / 100


def test_a_loss_level_is_reached_from_above():
    curves = {"a": [curve(3.0, 2.0, 1.4), curve(3.0, 1.5, 1.2)],
              "b": [curve(3.0, 2.5, 1.9), curve(3.0, 2.6, 1.5)]}
    row = seed_spread.at_level(curves, 1.5, higher=False)
    # a: steps 200 and 100 (within 2.0, median 150); b: only step 200 of two seeds, no median
    assert (row["reached"], row["within"], row["between"]) == (3, 2.0, None)


def test_ratios_read_off_a_reference_runs_records(tmp_path):
    """--records: each study's trial 0 of a self-tuning run, at the workload's target in use
    (synthetic_lm's report: a loss, lower is better)."""
    import json

    from workloads import targets as workload_targets

    target = workload_targets.read_report("synthetic_lm")["validation_target"]
    above, below = target + 0.1, target - 0.01
    # a: seeds first get below the target at steps 100 and 200; b: at 300 and 300
    crossings = {"a": [100, 200], "b": [300, 300]}
    for name, steps in crossings.items():
        for study, step in enumerate(steps):
            evals = [{"step": s, "submission_time": s / 100, "validation/loss":
                      below if s >= step else above} for s in (0, 100, 200, 300)]
            path = tmp_path / "self" / name / "synthetic_lm" / f"study_{study}" / "trial_0.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps({"evals": evals}))
    found = seed_spread.from_records(tmp_path, (), "median of chosen seeds")
    assert list(found) == ["synthetic_lm"]
    row = found["synthetic_lm"][0]
    assert (row["value"], row["reached"], row["runs"]) == (target, 4, 4)
    assert row["within"] == pytest.approx(1.5)  # median of a's 2.0 and b's 1.0
    assert row["between"] == pytest.approx(2.0)  # b's median 300 / a's median 150
