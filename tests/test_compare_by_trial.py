"""`bench compare --by-trial`: the same trials run twice, and how B's clock counted each."""

import copy
import json
import math

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.compare import paired_trials, seconds_per_step, summarize_pairs
from tests.record_factory import real_record, write_all


def record(study, outcome, *, seed=7, steps=100, time=None, submission_time=10.0):
    """The fields pairing reads, for a trial of nadamw on mnist1d."""
    hit = outcome == "hit"
    return {"ruleset": "self", "submission": "nadamw", "workload": "mnist1d", "study": study,
            "trial": 0, "seed": seed, "outcome": outcome, "steps": steps,
            "submission_time": submission_time, "steps_to_target": steps if hit else None,
            "time_to_target": time if hit else None}


def test_seconds_a_step_to_the_target_or_over_the_budget():
    assert seconds_per_step(record(0, "hit", steps=40, time=2.0)) == pytest.approx(0.05)
    assert seconds_per_step(record(0, "budget", steps=400, submission_time=10.0)) == 0.025
    assert math.isnan(seconds_per_step(record(0, "error", steps=0)))


def test_pairs_the_same_trials_and_divides_b_by_a():
    a = [record(0, "hit", steps=40, time=2.0), record(1, "budget", steps=500),
         record(2, "budget", steps=500, seed=9)]
    b = [record(0, "hit", steps=40, time=3.0),  # same step, 1.5x the seconds
         record(1, "budget", steps=400),  # 4/5 of the steps in the same budget
         record(2, "budget", steps=500, seed=10),  # another seed: not the same trial
         record(3, "budget")]  # not in A
    pairs = paired_trials(a, b)
    assert [(p.study, p.outcome_a, p.outcome_b) for p in pairs] == [
        (0, "hit", "hit"), (1, "budget", "budget")]
    assert [p.ratio for p in pairs] == pytest.approx([1.5, 1.25])
    summary = summarize_pairs(pairs)
    assert summary["all"]["n"] == 2 and summary["all"]["median"] == pytest.approx(1.375)
    assert summary["hits"]["low"] == summary["hits"]["high"] == pytest.approx(1.5)
    assert summary["misses"]["median"] == pytest.approx(1.25)


@pytest.fixture(scope="module")
def seed_record(tmp_path_factory):
    return real_record(tmp_path_factory.mktemp("by-trial"))


def test_the_command_prints_each_pair_and_the_median(tmp_path, seed_record):
    a = copy.deepcopy(seed_record)
    a.update(ruleset="self", submission="nadamw", workload="tiny", study=0, trial=0)
    a["workload_spec"]["name"] = "tiny"
    b = copy.deepcopy(a)
    b["time_to_target"] = 2 * a["time_to_target"]
    write_all(tmp_path / "a", [a])
    write_all(tmp_path / "b", [b])
    runner = CliRunner()
    shown = runner.invoke(main, ["compare", str(tmp_path / "a"), str(tmp_path / "b"),
                                 "--by-trial"])
    assert shown.exit_code == 0, shown.output
    assert "hits: 1 trials, B/A median 2.000" in shown.output
    as_json = json.loads(runner.invoke(main, ["compare", str(tmp_path / "a"),
                                              str(tmp_path / "b"), "--by-trial",
                                              "--json"]).output)
    assert as_json["summary"]["all"]["median"] == pytest.approx(2.0)
    b["seed"] += 1  # another seed: nothing to pair
    write_all(tmp_path / "c", [b])
    refused = runner.invoke(main, ["compare", str(tmp_path / "a"), str(tmp_path / "c"),
                                   "--by-trial"])
    assert refused.exit_code != 0 and "same seed" in refused.output
