"""Records as data frames and their export; the README's time-to-target example runs."""

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from bench import results
from bench.trial.record import RecordError
from tests.record_factory import real_record, variant, write_all

README = Path(__file__).resolve().parent.parent / "README.md"

# submission -> study -> trial times (None: missed). Per study the fastest hit, then the median
# over studies: A = median(2, 5, 4) = 4; B = median(3, miss, 6) = 6 (a missed study is +inf).
TIMES = {"A": {0: [2.0, 3.0], 1: [5.0, None], 2: [4.0]},
         "B": {0: [3.0], 1: [None, None], 2: [6.0, 7.0]}}


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    seed = real_record(root / "seed")
    records = [variant(seed, submission=s, workload="tiny", study=k, trial=n, time=t)
               for s, studies in TIMES.items() for k, times in studies.items()
               for n, t in enumerate(times)]
    write_all(root / "results", records)
    return root / "results"


def test_one_row_per_trial_with_its_time_hparams_and_target(results_dir):
    trials = results.load(results_dir).trials
    assert len(trials) == sum(len(t) for s in TIMES.values() for t in s.values()) == 10
    row = trials.set_index(["submission", "study", "trial"]).loc[("A", 1, 0)]
    assert row.outcome == "hit" and row.time_to_target == 5.0
    assert row["hparam.learning_rate"] == 0.1 and row.target_metric == "loss"
    missed = trials[(trials.submission == "A") & (trials.study == 1) & (trials.trial == 1)]
    assert missed.outcome.item() == "budget" and math.isnan(missed.time_to_target.item())


def test_evaluation_curves_are_a_long_table(results_dir):
    tables = results.load(results_dir)
    evals = tables.evals
    one = evals[(evals.submission == "A") & (evals.study == 0) & (evals.trial == 0)]
    record = pd.read_json(tables.trials.path[0], typ="series")  # any record: same curve length
    not_metrics = {"step", "submission_time", "eval_seconds"}
    metrics = [key for row in record["evals"] for key in row if key not in not_metrics]
    assert len(one) == len(metrics)  # step 0 has no train/loss: rows follow the record
    assert set(one.metric) == set(metrics) and "validation/loss" in metrics
    loss = one[one.metric == "validation/loss"].sort_values("step")
    assert loss.step.iloc[0] == 0 and loss.value.iloc[-1] <= 0.05  # the curve ends at the hit


def test_export_round_trips_csv_and_parquet(results_dir, tmp_path):
    tables = results.load(results_dir)
    for fmt, read in (("csv", pd.read_csv), ("parquet", pd.read_parquet)):
        paths = results.export([results_dir], tmp_path / fmt, format=fmt)
        assert [p.name for p in paths] == [f"trials.{fmt}", f"evals.{fmt}"]
        trials, evals = (read(p) for p in paths)
        assert len(trials) == len(tables.trials) and len(evals) == len(tables.evals)
        assert list(trials.columns) == list(tables.trials.columns)
        assert trials.time_to_target.sum() == pytest.approx(tables.trials.time_to_target.sum())


def test_a_record_off_its_schema_is_refused_by_name(results_dir, tmp_path):
    bad = tmp_path / "trial_0.json"
    text = Path(results.load(results_dir).trials.path[0]).read_text()
    bad.write_text(text.replace('"outcome": "hit"', '"outcome": "hit", "study": -3', 1))
    with pytest.raises(RecordError, match=r"trial_0\.json.*study"):
        results.load(bad)
    assert len(results.load(bad, validate=False).trials) == 1


def test_readme_example_plots_time_to_target(results_dir, tmp_path, monkeypatch):
    """The README's data-frame example, run on a results/ folder of known times."""
    code = re.search(r"```python\n(.*?time_to_target\.png.*?)```", README.read_text(), re.S)
    assert code, "README example not found"
    (tmp_path / "results").symlink_to(results_dir)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(code.group(1), namespace)
    per_workload = namespace["per_workload"]
    assert per_workload.loc["A", "tiny"] == 4.0
    assert per_workload.loc["B", "tiny"] == 6.0  # the missed study counts as infinite
    assert (tmp_path / "time_to_target.png").stat().st_size > 1000


def test_parquet_takes_hyperparameters_of_mixed_types(tmp_path):
    frame = pd.DataFrame([{"hparam.x": True}, {"hparam.x": "cosine"}, {"hparam.x": None},
                          {"hparam.y": 0.1}])
    results.parquet_ready(frame).to_parquet(tmp_path / "t.parquet", index=False)
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert list(back["hparam.x"][:2]) == ["True", "cosine"]
    assert back["hparam.x"].isna()[2] and back["hparam.x"].isna()[3]  # None, and absent
    assert back["hparam.y"][3] == 0.1
