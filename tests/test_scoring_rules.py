"""The four scoring rules of AlgoPerf's versions, each on a small set worked out by hand.

Each test gives the value AlgoPerf's rules produce (scoring/performance_profile.py) and states
what bench's earlier rules (cpu-v1's) give instead, so that each fails without its rule.
"""

import math

import pytest

from bench import rules, scoring
from tests.test_scoring import record

INF = math.inf
ALGOPERF = rules.load("algoperf-v0.5").scoring
CPU = rules.load("cpu-v1").scoring


def under(version, rec):
    return {**rec, "rules": version}


def test_only_the_sampled_variants_count():
    """v0.5 sampled ogbg_model_size; ogbg_gelu is in A's records but not held out.

    ogbg: A 100 s, B 250 s, both within 4x on ogbg_model_size. Seven of the eight bases have no
    records (missed by both). A: ratio 1 on ogbg, rho = 1/8 on [1, 4], score 1/8. B: ratio 2.5,
    rho = 1/8 from grid point 50 (tau = 1 + 3*50/99 > 2.5; point 49 is below): area
    3/99 * (1/16 + 49/8) = 3/16, score 1/16. Were ogbg_gelu held out, A's miss on it would cost
    A its ogbg: A 0, B 1/8.
    """
    records = [under("algoperf-v0.5", r) for r in [
        record("A", "ogbg", 0, 100.0), record("A", "ogbg_model_size", 0, 50.0, variant_of="ogbg"),
        record("A", "ogbg_gelu", 0, INF, variant_of="ogbg"),
        record("B", "ogbg", 0, 250.0), record("B", "ogbg_model_size", 0, 60.0, variant_of="ogbg"),
    ]]
    board = scoring.score(records, bootstrap_samples=0)
    assert len(board.variants) == 6 and board.variants["ogbg_model_size"] == "ogbg"
    assert "ogbg_gelu" not in board.variants
    assert board.scores["A"] == pytest.approx(1 / 8)
    assert board.scores["B"] == pytest.approx(1 / 16)
    assert any("ogbg_gelu are not scored" in w for w in board.warnings)


def test_a_variant_over_4x_the_fastest_base_hitter_costs_the_base():
    """w_v's fastest among submissions that reached w is A's 10 s (C missed w, so C's 1 s does
    not count); B's 50 s is over 4 x 10, so B's w counts as missed: A 1, B 0, C 0. Under the
    "hit" rule B keeps w at ratio 2; were C's 1 s the fastest, A's 10 s would be over 4x too."""
    medians = {"A": {"w": 10.0, "w_v": 10.0}, "B": {"w": 20.0, "w_v": 50.0},
               "C": {"w": INF, "w_v": 1.0}}
    times, reasons, ratios, _, scores = scoring.score_medians(medians, ["w"], {"w_v": "w"},
                                                              ALGOPERF)
    assert times == {"A": {"w": 10.0}, "B": {"w": INF}, "C": {"w": INF}}
    assert reasons["B"] == {"w_v": "over 4x", "w": "variant over 4x"}
    assert reasons["C"] == {"w": "missed", "w_v": "base missed"}
    assert scores == {"A": 1.0, "B": 0.0, "C": 0.0}
    assert scoring.score_medians(medians, ["w"], {"w_v": "w"}, CPU)[2]["B"]["w"] == 2.0


def test_a_study_keeps_the_trial_with_the_fewest_evaluations():
    """Trial 0 reached the target at its 3rd evaluation (30 s), trial 1 at its 5th (25 s):
    AlgoPerf keeps trial 0 and its 30 s; the fastest is 25 s. Equal counts: the faster one."""
    first = {**record("A", "w", 0, 30.0, trial=0), "evals_to_target": 3}
    second = {**record("A", "w", 0, 25.0, trial=1), "evals_to_target": 5}
    tie = {**record("A", "w", 0, 28.0, trial=2), "evals_to_target": 3}
    missed = {**record("A", "w", 0, INF, trial=3), "evals_to_target": None}
    table = scoring.study_table([first, second, missed], "time", "fewest_evaluations")
    assert table["A"]["w"].study_values == (30.0,)
    assert scoring.study_table([first, second], "time", "fastest")["A"]["w"].study_values == (25.0,)
    assert scoring.study_table([first, tie], "time", "fewest_evaluations")["A"]["w"].median == 28.0
    # a record without the count (bench's own) counts its evaluations up to the hit
    own = record("A", "w", 0, 30.0, steps=300)
    own["evals"] = [{"step": s} for s in (0, 100, 200, 300, 400)]
    assert scoring.evaluations_to_target(own) == 4


def test_tau_max_cuts_against_the_fastest_before_the_variant_rule():
    """A is fastest on w (10 s) but missed w_v; B (45 s) is over 4 x 10 and cut before A loses
    w, so B stays missed although C's 30 s becomes the best: C 1, A 0, B 0. Cutting ratios after
    the variant rule (cpu-v1) gives B 45 / 30 = 1.5 instead."""
    medians = {"A": {"w": 10.0, "w_v": INF}, "B": {"w": 45.0, "w_v": 45.0},
               "C": {"w": 30.0, "w_v": 30.0}}
    times, reasons, ratios, _, scores = scoring.score_medians(medians, ["w"], {"w_v": "w"},
                                                              ALGOPERF)
    assert ratios == {"A": {"w": INF}, "B": {"w": INF}, "C": {"w": 1.0}}
    assert reasons["A"]["w"] == "variant missed" and reasons["B"]["w"] == "over 4x"
    assert scores == {"A": 0.0, "B": 0.0, "C": 1.0}
    assert scoring.score_medians(medians, ["w"], {"w_v": "w"}, CPU)[2]["B"]["w"] == 1.5
