"""scripts/reference/default_point_lr.py: a default point against a target, learning rate scaled."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from bench import registry
from tests.conftest import SGD_SUBMISSION, TINY, write_submission

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("default_point_lr",
                                              ROOT / "scripts/reference/default_point_lr.py")
script = sys.modules["default_point_lr"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(script)

# TINY's target-setting report, reduced to what the script reads: a loss, lower is better; the
# reruns' best losses 0.04, 0.05, 0.06 have a standard deviation of 0.01.
REPORT = {"workload": "tiny", "target_metric": "loss", "higher_is_better": False,
          "validation_target": 0.05, "seeds": [{"best_metric": v} for v in (0.04, 0.05, 0.06)]}


def test_rates_are_the_default_times_each_factor():
    assert script.scaled_rates(0.0017486387539278373, [1, 2, 8]) == [0.0017486, 0.0034973,
                                                                      0.013989]
    assert script.parse_factors("4, 1,2,1") == [1.0, 2.0, 4.0]


def test_each_factor_trains_the_step_hint_and_is_read_against_the_target(tmp_path):
    sgd = registry.get_submission(str(write_submission(tmp_path, SGD_SUBMISSION)))  # lr 0.1
    results = tmp_path / "results"
    rows = script.measure(TINY, sgd, REPORT, [0.2, 0.1], results)
    assert [row["learning_rate"] for row in rows] == [0.01, 0.02]
    for row in rows:
        number = round(100 * (math.log10(row["learning_rate"]) + 10))
        record = json.loads((results / f"default-point-lr/sgd/tiny/study_100/trial_{number}.json")
                            .read_text())
        last = record["evals"][-1]
        assert last["step"] == 100  # TINY's step hint, not stopped at its target
        assert row["metric"] == last["validation/loss"]
        assert row["beyond"] == pytest.approx((0.05 - last["validation/loss"]) / 0.01)
    assert rows[1]["metric"] < rows[0]["metric"]  # twice the step on a quadratic: further down
    again = script.measure(TINY, sgd, REPORT, [0.1, 0.2], results)  # read back, not retrained
    assert [row["metric"] for row in again] == [row["metric"] for row in rows]
