"""bench.target_reach: the default points reaching a workload's target under each rule."""

import json

import pytest

from bench import target_reach

REPORT = {  # a target-setting report reduced to what the rules read; accuracy, higher is better
    "workload": "w", "target_metric": "accuracy", "higher_is_better": True,
    "validation_target": 0.95,  # median of the seeds below
    "seeds": [{"best_metric": v} for v in (0.97, 0.94, 0.95, 0.93, 0.96)],
    "configurations": [{"best_metric": v} for v in (0.90, None, 0.96, 0.80, 0.92)],
}


def test_each_rule_reads_its_target_off_the_report():
    targets = target_reach.candidate_targets(REPORT)
    assert targets == {"median of chosen seeds": 0.95, "worst chosen seed": 0.93,
                       "2nd configuration": 0.92, "3rd configuration": 0.90}


def test_lower_is_better_flips_worst_and_ranks():
    report = dict(REPORT, higher_is_better=False, validation_target=0.95)
    targets = target_reach.candidate_targets(report)
    assert targets["worst chosen seed"] == 0.97
    assert (targets["2nd configuration"], targets["3rd configuration"]) == (0.90, 0.92)


def test_reach_counts_the_default_points_meeting_each_target():
    found = target_reach.reach(REPORT, {"a": 0.951, "b": 0.93, "c": 0.91, "d": 0.85})
    assert found.reaching == {"median of chosen seeds": ["a"], "worst chosen seed": ["a", "b"],
                              "2nd configuration": ["a", "b"],
                              "3rd configuration": ["a", "b", "c"]}


def test_default_points_best_takes_the_median_over_studies(tmp_path):
    def record(values):
        return {"evals": [{"step": i, "submission_time": 0.1 * i, "validation/accuracy": v}
                          for i, v in enumerate(values)]}

    for study, values in enumerate(([0.5, 0.9, 0.8], [0.7, 0.95], [0.6, float("nan"), 0.85])):
        path = tmp_path / "self" / "sub" / "w" / f"study_{study}" / "trial_0.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(record(values)))
    records = target_reach.default_point_records(tmp_path, "w")
    assert target_reach.default_points_best(records, REPORT) == {"sub": pytest.approx(0.9)}


def test_retargeted_records_meet_an_easier_target_at_its_first_evaluation_within_budget():
    record = {"outcome": "budget", "time_to_target": None, "steps_to_target": None,
              "protocol": {"max_runtime": 3.0, "eval_past_budget": True},
              "evals": [{"step": s, "submission_time": t, "validation/accuracy": v}
                        for s, t, v in ((0, 0.0, 0.1), (10, 1.0, 0.85), (20, 2.0, 0.91),
                                        (30, 3.5, 0.93), (40, 4.5, 0.96))]}
    hit = target_reach.retargeted(record, "accuracy", 0.9, True)
    assert (hit["outcome"], hit["time_to_target"], hit["steps_to_target"]) == ("hit", 2.0, 20)
    # 3.5 s is past the 3 s budget, and the one evaluation past it is allowed; 4.5 s is not
    late = target_reach.retargeted(record, "accuracy", 0.92, True)
    assert (late["outcome"], late["steps_to_target"]) == ("hit", 30)
    assert target_reach.retargeted(record, "accuracy", 0.95, True)["outcome"] == "budget"
    assert record["outcome"] == "budget"  # the original is left as it was


def test_a_cell_gives_a_hits_share_of_budget_and_a_misss_shortfall_in_seed_sds():
    # the seeds' best metrics 0.97, 0.94, 0.95, 0.93, 0.96 have a standard deviation of 0.0158
    assert target_reach.seed_spread(REPORT) == pytest.approx(0.015811, abs=1e-6)
    hit = {"outcome": "hit", "time_to_target": 3.0, "protocol": {"max_runtime": 12.0}}
    assert target_reach.cell(hit, REPORT) == target_reach.Cell(True, 0.25, None)
    miss = {"outcome": "budget", "evals": [{"step": 1, "submission_time": 1.0,
                                            "validation/accuracy": 0.9342}]}
    assert target_reach.cell(miss, REPORT).shortfall == pytest.approx(1.0, abs=1e-3)
    loss_report = dict(REPORT, target_metric="loss", higher_is_better=False,
                       validation_target=1.50)
    loss_miss = {"outcome": "budget", "evals": [{"step": 1, "submission_time": 1.0,
                                                 "validation/loss": 1.531623}]}
    assert target_reach.cell(loss_miss, loss_report).shortfall == pytest.approx(2.0, abs=1e-3)
    diverged = {"outcome": "diverged", "evals": [{"step": 1, "submission_time": 1.0,
                                                  "validation/accuracy": float("nan")}]}
    assert target_reach.cell(diverged, REPORT).shortfall == float("inf")


def test_toss_ups_are_late_hits_and_near_misses():
    assert target_reach.Cell(True, 0.81, None).toss_up
    assert not target_reach.Cell(True, 0.8, None).toss_up
    assert target_reach.Cell(False, None, 1.9).toss_up
    assert not target_reach.Cell(False, None, 2.0).toss_up
    assert not target_reach.Cell(False, None, float("inf")).toss_up
