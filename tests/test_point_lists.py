"""bench.point_lists and scripts/reference/point_lists.py: point lists for external tuning."""

import importlib.util
import json
import statistics
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench import point_lists, registry
from bench.search_space import PointList, load_search_space
from workloads.targets import read_report

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lists_script = load_script("reference_point_lists", "scripts/reference/point_lists.py")
reference = load_script("reference_run_for_lists", "scripts/reference/run.py")


def report(workload, target, seeds, tried, higher_is_better=True):
    """A target-setting report in the shape workloads/targets/<w>.json has."""
    return {
        "workload": workload, "validation_target": target, "higher_is_better": higher_is_better,
        "seeds": [{"best_metric": value} for value in seeds],
        "configurations": [{"submission": sub, "hparams": hparams, "seed": seed,
                            "best_metric": best}
                           for sub, hparams, seed, best in tried],
    }


def test_greedy_order_takes_the_point_that_covers_most_of_what_the_list_misses():
    costs = [[0, 10, 10],   # meets workload 0 only
             [5, 0, 10],    # meets workload 1
             [10, 10, 1],
             [1, 1, 1]]     # near everywhere
    # sums 20, 15, 21, 3 -> point 3; then with [1, 1, 1] covered: point 0 gives 0+1+1 = 2,
    # point 1 gives 1+0+1 = 2 (tie: point 1, whose own sum is 15 against 20), point 2 gives 3;
    # then with [1, 0, 1] covered point 0 gives 0+0+1 = 1 and point 2 gives 1+0+1 = 2.
    assert point_lists.greedy_order(costs, 1) == [3]
    assert point_lists.greedy_order(costs, 2) == [3, 1]
    assert point_lists.greedy_order(costs, 3) == [3, 1, 0]
    assert point_lists.greedy_order(costs, 9) == [3, 1, 0, 2]  # no longer than the search
    tied = [[0, 5], [5, 0], [0, 5]]  # points 0 and 2 alike in every way: the earlier one
    assert point_lists.greedy_order(tied, 1) == [0]


def test_once_the_list_covers_what_it_can_the_next_points_are_the_best_on_their_own():
    costs = [[10, 10, 10],
             [0, 0, 10],   # the first point: meets two workloads
             [9, 9, 10],
             [2, 1, 10]]   # no point helps the third workload
    # after point 1 nothing lowers the list's cost (10); point 3 sums 13 against 28 and 30
    assert point_lists.greedy_order(costs, 3) == [1, 3, 2]
    with pytest.raises(point_lists.PointListError):
        point_lists.greedy_order(costs, 0)


def test_point_cost_is_the_shortfall_in_seed_sds_capped_at_far():
    accuracy = report("w", 0.92, [0.90, 0.92, 0.94], [])  # seed sd 0.02
    assert statistics.stdev([0.90, 0.92, 0.94]) == pytest.approx(0.02)
    assert point_lists.point_cost(0.88, accuracy) == pytest.approx(2.0)
    assert point_lists.point_cost(0.93, accuracy) == 0.0  # meets it
    assert point_lists.point_cost(0.92, accuracy) == 0.0
    assert point_lists.point_cost(0.50, accuracy) == point_lists.FAR  # 21 sds: capped
    assert point_lists.point_cost(None, accuracy) == point_lists.FAR
    assert point_lists.point_cost(float("nan"), accuracy) == point_lists.FAR
    loss = report("w", 1.0, [0.9, 1.0, 1.1], [], higher_is_better=False)  # seed sd 0.1
    assert point_lists.point_cost(1.25, loss) == pytest.approx(2.5)
    assert point_lists.point_cost(0.95, loss) == 0.0


def test_derive_orders_the_points_as_drawn_and_merges_the_fixed_hyperparameters():
    a, b, c = {"learning_rate": 0.1}, {"learning_rate": 0.01}, {"learning_rate": 0.001}
    reports = [
        # seed sd 0.01 on both; point b meets w1, point c meets w2, point a is near on both
        report("w1", 0.90, [0.89, 0.90, 0.91],
               [("opt", c, 2, 0.75), ("opt", a, 0, 0.89), ("opt", b, 1, 0.95),
                ("other", {"learning_rate": 5.0}, 0, 0.99)]),
        report("w2", 0.90, [0.89, 0.90, 0.91],
               [("opt", a, 0, 0.885), ("opt", b, 1, 0.70), ("opt", c, 2, 0.90)]),
    ]
    points, costs = point_lists.cost_table(reports, "opt")
    assert points == [a, b, c]  # by seed: the search's order
    assert costs == [[pytest.approx(1.0), pytest.approx(1.5)], [0.0, 10.0], [10.0, 0.0]]
    derived = point_lists.derive(reports, "opt", 2, {"horizon_factor": 0.75})
    # sums: a 2.5, b 10, c 10 -> a; then b covers w1 (0 + 1.5), c covers w2 (1 + 0) -> c
    assert derived.points == [{**a, "horizon_factor": 0.75}, {**c, "horizon_factor": 0.75}]
    assert derived.covered() == {"w1": pytest.approx(1.0), "w2": 0.0}


def test_a_point_missing_on_a_workload_is_an_error_that_says_which():
    reports = [report("w1", 0.9, [0.89, 0.91], [("opt", {"learning_rate": 0.1}, 0, 0.9)]),
               report("w2", 0.9, [0.89, 0.91], [("opt", {"learning_rate": 0.2}, 0, 0.9)])]
    with pytest.raises(point_lists.PointListError, match="w2.*did not try opt"):
        point_lists.cost_table(reports, "opt")
    with pytest.raises(point_lists.PointListError, match="tried no point of sgd"):
        point_lists.cost_table(reports, "sgd")


def test_the_lists_are_derived_on_the_base_workloads_only():
    base = lists_script.base_cpu_workloads()
    assert "mnist1d" in base and "synthetic_lm" in base
    assert "mnist1d_gelu" not in base  # the held-out variant tests the lists


@pytest.mark.parametrize("baseline", ["nadamw", "sgd_nesterov", "adamw"])
def test_each_baselines_committed_list_is_the_one_its_reports_give(baseline):
    path = lists_script.list_path(baseline)
    space = load_search_space(path)
    assert isinstance(space, PointList) and len(space.points) == lists_script.DEFAULT_LENGTH
    submission = registry.get_submission(baseline)
    space.check_names(submission.default_hparams, owner=baseline)
    reports = [lists_script.searched_report(w) for w in lists_script.base_cpu_workloads()]
    derived = point_lists.derive(reports, baseline, lists_script.DEFAULT_LENGTH,
                                 {"horizon_factor": 0.75})
    assert json.loads(path.read_text()) == derived.points
    assert all(point["horizon_factor"] == 0.75 for point in space.points)


def test_the_board_gives_a_point_list_to_external_studies_only():
    steps = reference.plan(["self", "external"], ("nadamw", "prodigy"), ["mnist1d"], studies=3,
                           trials=3)
    by = {(step.ruleset, step.submission): step for step in steps}
    listed = by[("external", "nadamw")]
    assert listed.search_space == str(lists_script.list_path("nadamw"))
    args = reference.study_args(listed, Path("/tmp/r"))
    assert args[args.index("--search-space") + 1] == listed.search_space
    assert by[("external", "prodigy")].search_space is None  # no list: its ranges
    assert by[("self", "nadamw")].search_space is None  # self-tuning: its default point
    assert "--search-space" not in reference.study_args(by[("self", "nadamw")], Path("/tmp/r"))


def test_a_broader_search_adds_its_points_to_the_target_setting_ones(tmp_path, monkeypatch):
    from bench import targets

    monkeypatch.setattr(lists_script, "SEARCH_DIRECTORY", tmp_path / "search")
    calls = []

    def fake_tune(workload, step_hint, baselines, trials, results_dir, on_trial, seed_offset):
        calls.append((workload.name, step_hint, tuple(baselines), trials, seed_offset))
        return [targets.Configuration(baselines[0], {"learning_rate": 0.5 + i}, seed_offset + i,
                                      0.0, "budget") for i in range(trials)]

    monkeypatch.setattr(lists_script.targets, "tune", fake_tune)
    monkeypatch.setattr(lists_script, "base_cpu_workloads", lambda: ["mnist1d_mlp"])
    result = CliRunner().invoke(lists_script.main, ["--search", "2", "--results-dir",
                                                    str(tmp_path / "runs"), "-s", "nadamw"])
    assert result.exit_code == 0, result.output
    step_hint = read_report("mnist1d_mlp")["step_hint"]
    assert calls == [("mnist1d_mlp", step_hint, ("nadamw",), 2, lists_script.SEARCH_SEED_OFFSET)]
    search = json.loads((tmp_path / "search" / "mnist1d_mlp.json").read_text())
    assert [c["seed"] for c in search["configurations"]] == [200_000, 200_001]
    merged = lists_script.searched_report("mnist1d_mlp")
    original = read_report("mnist1d_mlp")
    assert merged["configurations"] == original["configurations"] + search["configurations"]
    assert merged["validation_target"] == original["validation_target"]  # targets untouched
    # the searched points run on every workload of the table: they join nadamw's points
    points, _ = point_lists.cost_table([merged], "nadamw")
    assert len(points) == 5 + 2 and points[-1] == {"learning_rate": 1.5}


def test_a_search_needs_a_results_directory_outside_the_repository():
    result = CliRunner().invoke(lists_script.main, ["--search", "2"])
    assert result.exit_code == 2 and "--results-dir" in result.output
    result = CliRunner().invoke(lists_script.main, ["--search", "2", "--results-dir",
                                                    str(ROOT / "runs")])
    assert result.exit_code == 2 and "inside the repository" in result.output
