"""Scores worked out by hand: profiles, areas, medians over studies, variants, bootstrap."""

import math

import numpy as np
import pytest

from bench import scoring

INF = math.inf


def record(submission, workload, study, value, trial=0, steps=None, fingerprint="m1",
           variant_of=None, sha="s1", ruleset="external"):
    hit = math.isfinite(value)
    return {
        "ruleset": ruleset, "submission": submission, "workload": workload, "study": study,
        "trial": trial, "outcome": "hit" if hit else "budget",
        "time_to_target": value if hit else None,
        "steps_to_target": (steps if steps is not None else int(value * 10)) if hit else None,
        "hardware": {"fingerprint": fingerprint}, "submission_sha256": sha,
        "workload_spec": {"variant_of": variant_of, "target_metric": "accuracy",
                          "validation_target": 0.9},
        "evals": [],
    }


def board_from(times, **kwargs):
    """times: submission -> workload -> time (one study, one trial each)."""
    records = [record(s, w, 0, t) for s, row in times.items() for w, t in row.items()]
    return scoring.score(records, bootstrap_samples=0, **kwargs)


def test_crossing_submissions_by_hand():
    board = board_from({"A": {"w1": 10.0, "w2": 20.0}, "B": {"w1": 20.0, "w2": 10.0}})
    assert board.ratios == {"A": {"w1": 1.0, "w2": 2.0}, "B": {"w1": 2.0, "w2": 1.0}}
    # rho = 1/2 on [1, 2), 1 from tau = 2, which is grid point 33 of linspace(1, 4, 100):
    # 32 segments at 1/2, one trapezoid (1/2 + 1)/2, 66 segments at 1; each 3/99 wide, / 3.
    expected = (32 * 0.5 + 0.75 + 66 * 1.0) / 99
    assert board.scores["A"] == pytest.approx(expected) == board.scores["B"]
    assert board.profiles["A"][0] == 0.5 and board.profiles["A"][-1] == 1.0


def test_ties_score_one():
    board = board_from({"A": {"w": 10.0}, "B": {"w": 10.0}})
    assert board.scores == {"A": 1.0, "B": 1.0}


def test_all_failed_scores_zero():
    board = board_from({"A": {"w1": INF, "w2": INF}, "B": {"w1": INF, "w2": INF}})
    assert board.scores == {"A": 0.0, "B": 0.0}


def test_one_workload_failed():
    board = board_from({"A": {"w1": 10.0, "w2": INF}, "B": {"w1": 10.0, "w2": 30.0}})
    assert board.scores["A"] == pytest.approx(0.5)  # rho = 1/2 for every tau
    assert board.scores["B"] == pytest.approx(1.0)  # best (alone) on w2, tied on w1


def test_tau_max_edge():
    exactly = board_from({"A": {"w": 10.0}, "B": {"w": 40.0}})
    assert exactly.ratios["B"]["w"] == 4.0
    # rho is 0 until the last grid point, tau = 4: one half-trapezoid of width 3/99, / 3
    assert exactly.scores["B"] == pytest.approx(0.5 / 99)
    beyond = board_from({"A": {"w": 10.0}, "B": {"w": 40.1}})
    assert beyond.ratios["B"]["w"] == INF and beyond.scores["B"] == 0.0


def test_study_time_is_fastest_hit_and_workload_time_the_median():
    records = [
        record("A", "w", 0, 9.0, trial=0), record("A", "w", 0, 5.0, trial=1),
        record("A", "w", 1, INF, trial=0), record("A", "w", 1, INF, trial=1),
        record("A", "w", 2, 7.0, trial=0), record("A", "w", 2, 8.0, trial=1),
    ]
    entry = scoring.study_table(records)["A"]["w"]
    assert entry.study_values == (5.0, INF, 7.0)
    assert entry.median == 7.0 and entry.trials == 6 and entry.hits == 4
    two = scoring.study_table(records[:4])["A"]["w"]
    assert two.median == INF  # median of (5, inf): half the studies missed


def test_steps_measure():
    records = [record("A", "w", 0, 10.0, steps=300), record("B", "w", 0, 20.0, steps=100)]
    board = scoring.score(records, measure="steps", bootstrap_samples=0)
    assert board.ratios == {"A": {"w": 3.0}, "B": {"w": 1.0}}


def test_missed_variant_counts_as_missed_base():
    records = [
        record("A", "base", 0, 10.0), record("A", "base_gelu", 0, INF, variant_of="base"),
        record("B", "base", 0, 20.0), record("B", "base_gelu", 0, 25.0, variant_of="base"),
    ]
    board = scoring.score(records, bootstrap_samples=0)
    assert board.workloads == ["base"] and board.variants == {"base_gelu": "base"}
    assert board.times["A"]["base"] == INF
    assert board.scores == {"A": 0.0, "B": 1.0}


def test_mixed_hardware_is_refused_unless_steps():
    records = [record("A", "w", 0, 10.0, fingerprint="m1"),
               record("B", "w", 0, 12.0, fingerprint="m2")]
    with pytest.raises(scoring.ScoringError, match="2 different machines"):
        scoring.score(records, bootstrap_samples=0)
    with pytest.raises(scoring.ScoringError, match="--measure steps"):
        scoring.score(records, mixed_hardware=True, bootstrap_samples=0)
    board = scoring.score(records, measure="steps", mixed_hardware=True, bootstrap_samples=0)
    assert board.hardware == ["m1", "m2"]


def test_changed_submission_source_and_missing_workload_warn():
    records = [record("A", "w1", 0, 10.0, sha="x"), record("A", "w1", 1, 11.0, sha="y"),
               record("A", "w2", 0, 10.0, sha="x"), record("B", "w1", 0, 10.0)]
    board = scoring.score(records, bootstrap_samples=0)
    assert any("2 different source files" in w for w in board.warnings)
    assert any("B has no records on w2" in w for w in board.warnings)
    assert board.ratios["B"]["w2"] == INF


def test_several_rulesets_need_a_choice():
    records = [record("A", "w", 0, 1.0), record("A", "w", 0, 1.0, ruleset="self")]
    with pytest.raises(scoring.ScoringError, match="--ruleset"):
        scoring.score(records)
    assert scoring.score(records, ruleset="self", bootstrap_samples=0).ruleset == "self"


def test_bootstrap_is_deterministic_by_seed_and_brackets_the_score():
    records = []
    for study, (a, b) in enumerate([(10, 12), (14, 11), (9, 30), (11, 10), (12, 13)]):
        records += [record("A", "w1", study, a), record("B", "w1", study, b),
                    record("A", "w2", study, 20.0), record("B", "w2", study, 25.0)]
    first = scoring.score(records, bootstrap_samples=20, seed=1)
    again = scoring.score(records, bootstrap_samples=20, seed=1)
    other = scoring.score(records, bootstrap_samples=20, seed=2)
    assert first.intervals == again.intervals
    assert first.intervals != other.intervals
    for s in ("A", "B"):
        low, high = first.intervals[s]
        assert 0.0 <= low <= high <= 1.0
    assert first.intervals["A"][0] < first.intervals["A"][1]  # the studies disagree


def test_bootstrap_of_identical_studies_collapses():
    records = [record(s, "w", k, t) for k in range(4) for s, t in (("A", 10.0), ("B", 15.0))]
    board = scoring.score(records, bootstrap_samples=50)
    low, high = board.intervals["B"]
    assert low == high == pytest.approx(board.scores["B"])


def test_one_study_gives_no_interval():
    records = [record(s, "w", 0, t) for s, t in (("A", 10.0), ("B", 15.0))]
    assert scoring.score(records, bootstrap_samples=50).intervals == {}
    records.append(record("B", "w", 1, 12.0))  # one entry with two studies: intervals again
    assert set(scoring.score(records, bootstrap_samples=50).intervals) == {"A", "B"}


def test_profile_function_directly():
    grid = np.array([1.0, 2.0, 3.0])
    rho = scoring.performance_profile({"a": 1.0, "b": 2.5, "c": INF}, grid)
    np.testing.assert_allclose(rho, [1 / 3, 1 / 3, 2 / 3])
