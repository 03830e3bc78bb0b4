"""bench.ranking and benchmarks/ranking_stability.py on hand-made rankings.

Expected values are worked out by hand from Kendall's tau-b, tau = (C - D) / sqrt((n0 - n1)
(n0 - n2)), over the pairs listed in each test."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from bench import ranking

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("ranking_stability",
                                              ROOT / "benchmarks/ranking_stability.py")
stability = sys.modules["ranking_stability"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(stability)

# Pairs: (a,b) (a,c) (a,d) (b,d) (c,d) concordant, (b,c) discordant: tau = (5 - 1) / 6 = 2/3.
FIRST = {"a": 0.9, "b": 0.7, "c": 0.5, "d": 0.1}
SECOND = {"a": 0.8, "b": 0.4, "c": 0.6, "d": 0.2}
# b and c are apart in the first run; in the second their intervals touch at 0.5 (not disjoint).
FIRST_INTERVALS = {"a": (0.85, 0.95), "b": (0.65, 0.75), "c": (0.45, 0.55), "d": (0.0, 0.2)}
SECOND_INTERVALS = {"a": (0.7, 0.9), "b": (0.3, 0.5), "c": (0.5, 0.7), "d": (0.1, 0.3)}


def test_one_discordant_pair():
    comparison = ranking.compare(FIRST, SECOND, FIRST_INTERVALS, SECOND_INTERVALS)
    assert comparison.tau == pytest.approx(2 / 3)
    assert comparison.common == ["a", "b", "c", "d"]
    assert comparison.swaps == [ranking.Swap("b", "c", disjoint_first=True,
                                             disjoint_second=False)]
    assert comparison.contradictions == comparison.swaps
    assert len(comparison.apart) == 6  # the first run's intervals are all disjoint


def test_the_pairs_some_run_sets_apart():
    # In the second run only (a,b), (a,d) and (c,d) are disjoint: a-c touch at 0.7, b-c at 0.5,
    # b-d at 0.3.
    comparison = ranking.compare(FIRST, SECOND, None, SECOND_INTERVALS)
    assert comparison.apart == [("a", "b"), ("a", "d"), ("c", "d")]
    assert comparison.contradictions == []  # the one swap, (b, c), is not among them


def test_ties_are_neither_concordant_nor_swaps():
    # (a,b) (a,c) concordant, (b,c) tied in the first: C = 2, D = 0, n0 = 3, n1 = 1, n2 = 0,
    # tau_b = 2 / sqrt(2 * 3) = 0.81650
    first, second = {"a": 1.0, "b": 0.5, "c": 0.5}, {"a": 1.0, "b": 0.7, "c": 0.3}
    assert ranking.kendall_tau(first, second) == pytest.approx(2 / math.sqrt(6))
    assert ranking.swapped_pairs(first, second) == []


def test_reversed_ranking_and_missing_submissions():
    first = {"a": 3.0, "b": 2.0, "c": 1.0, "only_here": 0.5}
    second = {"a": 1.0, "b": 2.0, "c": 3.0, "only_there": 9.0}
    comparison = ranking.compare(first, second)
    assert comparison.tau == pytest.approx(-1.0)
    assert [(s.ahead, s.behind) for s in comparison.swaps] == [("a", "b"), ("a", "c"), ("b", "c")]
    assert comparison.only_first == ["only_here"] and comparison.only_second == ["only_there"]
    assert comparison.contradictions == []  # no intervals given: nothing is set apart
    assert math.isnan(ranking.kendall_tau({"a": 1.0}, {"a": 1.0, "b": 0.0}))


def test_disjoint_and_ranks():
    assert ranking.disjoint((0.1, 0.2), (0.3, 0.4)) and ranking.disjoint((0.3, 0.4), (0.1, 0.2))
    assert not ranking.disjoint((0.1, 0.3), (0.3, 0.4))
    assert ranking.ranks({"a": 0.9, "b": 0.5, "c": 0.5, "d": 0.1}) == {"a": 1, "b": 2, "c": 2,
                                                                      "d": 4}


def leaderboard_json(path: Path, scores, intervals) -> Path:
    path.write_text(json.dumps({"ruleset": "self", "scores": scores,
                                "intervals": {k: list(v) for k, v in intervals.items()}}))
    return path


def test_stability_script_on_two_leaderboards(tmp_path, capsys):
    first = leaderboard_json(tmp_path / "a.json", FIRST, FIRST_INTERVALS)
    second = leaderboard_json(tmp_path / "b.json", SECOND, SECOND_INTERVALS)
    out = tmp_path / "stability.json"
    assert stability.main([str(first), str(second), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["kendall_tau"] == pytest.approx(2 / 3)
    assert report["swaps"] == [{"ahead_in_first": "b", "ahead_in_second": "c",
                                "disjoint_in_first": True, "disjoint_in_second": False}]
    assert report["contradicted_intervals"] == 1 and report["meets_issue_21_bar"] is False
    assert (report["pairs"], report["pairs_apart"]) == (6, 6)
    printed = capsys.readouterr().out
    assert "Kendall tau-b over 4 submissions: 0.667" in printed
    assert "6 of the 6 pairs are set apart by a run's intervals; 1 of them swap" in printed
    assert "2. 0.700 [0.650, 0.750]" in printed  # b in the first run


def test_stability_script_refuses_bad_input(tmp_path, capsys):
    good = leaderboard_json(tmp_path / "a.json", FIRST, FIRST_INTERVALS)
    assert stability.main([str(good), str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"rows": []}')
    assert stability.main([str(good), str(tmp_path / "bad.json")]) == 2
    assert "is not a leaderboard.json with scores" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert stability.main([str(good), str(tmp_path / "empty")]) == 2
    assert "no trial records to score" in capsys.readouterr().err


def test_stability_script_scores_two_results_directories(tmp_path):
    """Records of one workload, three studies each: a 1 s, b 2 s, c 3 s in the first run; c and
    b trade places in the second. Identical studies give point intervals: the swap of b and c
    contradicts both runs' intervals. tau = (2 - 1) / 3."""
    from tests.record_factory import real_record, variant, write_all

    seed = real_record(tmp_path)
    times = {"first": {"a": 1.0, "b": 2.0, "c": 3.0}, "second": {"a": 1.0, "b": 3.0, "c": 2.0}}
    for run, table in times.items():
        write_all(tmp_path / run, [
            variant(seed, submission=name, workload="tiny", study=study, trial=0, time=time,
                    ruleset="self")
            for name, time in table.items() for study in range(3)])
    out = tmp_path / "stability.json"
    argv = [str(tmp_path / "first"), str(tmp_path / "second"), "--out", str(out),
            "--bootstrap", "50"]
    assert stability.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["kendall_tau"] == pytest.approx(1 / 3)
    assert report["swaps"] == [{"ahead_in_first": "b", "ahead_in_second": "c",
                                "disjoint_in_first": True, "disjoint_in_second": True}]
    assert report["runs"][0]["scores"]["a"] == 1.0


def write_boards_in_progress(tmp_path, **studies_by_run):
    """Self-tuning records of submissions a (1 s), b (2 s) and c (0.5 s) on one workload, in
    results directories tmp_path/<run>: each submission in its studies 0 .. count - 1."""
    from tests.record_factory import real_record, variant, write_all

    seed = real_record(tmp_path)
    for run, studies in studies_by_run.items():
        write_all(tmp_path / run, [
            variant(seed, submission=name, workload="tiny", study=study, trial=0,
                    time={"a": 1.0, "b": 2.0, "c": 0.5}[name], ruleset="self")
            for name, count in studies.items() for study in range(count)])


def test_boards_in_progress_are_compared_over_their_finished_submissions(tmp_path):
    """c has run study 0 alone in the first run (a board in progress): scored on that one
    study, its 0.5 s makes it first; with --complete-only it is left out of that run."""
    write_boards_in_progress(tmp_path, first={"a": 3, "b": 3, "c": 1}, second={"a": 3, "b": 3})
    out = tmp_path / "stability.json"
    argv = [str(tmp_path / "first"), str(tmp_path / "second"), "--out", str(out),
            "--bootstrap", "20"]
    assert stability.main(argv) == 0
    assert json.loads(out.read_text())["runs"][0]["scores"]["c"] == 1.0
    assert stability.main(argv + ["--complete-only"]) == 0
    report = json.loads(out.read_text())
    assert sorted(report["runs"][0]["scores"]) == ["a", "b"] and report["common"] == ["a", "b"]


def test_boards_in_progress_are_scored_over_the_submissions_finished_in_both(tmp_path):
    """c has finished (3 studies) in the first run and run one study of the second. Kept in
    the first run alone, its 0.5 s would set that run's best time and a (1 s, twice it) would
    score below 1 there and 1 in the second. Scored over a and b alone in both runs, a is the
    best of each and scores 1.0 in both."""
    write_boards_in_progress(tmp_path, first={"a": 3, "b": 3, "c": 3},
                             second={"a": 3, "b": 3, "c": 1})
    out = tmp_path / "stability.json"
    argv = [str(tmp_path / "first"), str(tmp_path / "second"), "--out", str(out),
            "--bootstrap", "20", "--complete-only"]
    assert stability.main(argv) == 0
    report = json.loads(out.read_text())
    assert [sorted(run["scores"]) for run in report["runs"]] == [["a", "b"], ["a", "b"]]
    assert report["runs"][0]["scores"]["a"] == report["runs"][1]["scores"]["a"] == 1.0


def test_stability_script_sets_two_studies_of_one_run_side_by_side(tmp_path, capsys):
    """One run, two studies: a 1 s, b 2 s, c 3 s in study 0; b and c trade places in study 1.
    Scored study against study: tau = (2 - 1) / 3, as between two runs above; a study with no
    records is refused."""
    from tests.record_factory import real_record, variant, write_all

    seed = real_record(tmp_path)
    times = {0: {"a": 1.0, "b": 2.0, "c": 3.0}, 1: {"a": 1.0, "b": 3.0, "c": 2.0}}
    write_all(tmp_path / "run", [
        variant(seed, submission=name, workload="tiny", study=study, trial=0, time=time,
                ruleset="self")
        for study, table in times.items() for name, time in table.items()])
    out = tmp_path / "stability.json"
    run = str(tmp_path / "run")
    argv = [run, run, "--first-study", "0", "--second-study", "1", "--out", str(out),
            "--bootstrap", "50"]
    assert stability.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["kendall_tau"] == pytest.approx(1 / 3)
    assert [(s["ahead_in_first"], s["ahead_in_second"]) for s in report["swaps"]] == [("b", "c")]
    assert report["runs"][1]["source"].endswith("(study 1)")
    assert stability.main([run, run, "--second-study", "7", "--out", str(out)]) == 2
    assert "no records of study 7" in capsys.readouterr().err


def test_stability_script_scores_stale_records_only_when_allowed(tmp_path, capsys):
    """Records measured on another definition of mnist1d_mlp (another workload hash): refused,
    as `bench score` refuses them, unless --allow-stale."""
    from bench.trial.record import Record, TrialId, write_record
    from tests.test_trust import current_record

    for run in ("first", "second"):
        for name, time in (("a", 1.0), ("b", 2.0)):
            record = current_record(name, time, workload_sha256="0" * 64, ruleset="self")
            write_record(TrialId("self", name, "mnist1d_mlp").path(tmp_path / run),
                         Record.from_dict(record))
    argv = [str(tmp_path / "first"), str(tmp_path / "second"), "--bootstrap", "20",
            "--out", str(tmp_path / "stability.json")]
    assert stability.main(argv) == 2
    assert "workload hash differs" in capsys.readouterr().err
    assert stability.main(argv + ["--allow-stale"]) == 0
    report = json.loads((tmp_path / "stability.json").read_text())
    scores = report["runs"][0]["scores"]
    assert scores["a"] == 1.0 and 0.0 < scores["b"] < 1.0  # b took twice a's time


def test_resampling_one_run_screens_how_far_a_second_would_agree(tmp_path, capsys):
    """One workload, three studies. a (1, 1, 3 s) against b (2, 2, 2 s): a resampled board puts
    a behind b when at least two of its three draws are the 3-s study, with probability
    3 (1/3)^2 (2/3) + (1/3)^3 = 7/27. With two submissions tau is +1 or -1, so a pair of boards
    agrees (tau 1, at the bar) with probability (20/27)^2 + (7/27)^2 = 449/729 = 0.616."""
    from tests.record_factory import real_record, variant, write_all

    seed = real_record(tmp_path)
    times = {"a": (1.0, 1.0, 3.0), "b": (2.0, 2.0, 2.0)}
    write_all(tmp_path / "run", [
        variant(seed, submission=name, workload="tiny", study=study, trial=0, time=time,
                ruleset="self")
        for name, studies in times.items() for study, time in enumerate(studies)])
    out = tmp_path / "resampled.json"
    assert stability.main([str(tmp_path / "run"), "--resample", "3000", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["pairs"] == report["defined"] == 3000
    assert report["share_at_bar"] == pytest.approx(449 / 729, abs=0.03)
    assert report["tau_percentiles"]["10"] == -1.0 and report["tau_percentiles"]["90"] == 1.0
    for bad in ([str(tmp_path / "run"), str(tmp_path / "run"), "--resample", "5"],  # both
                [str(tmp_path / "run"), "--resample", "0"],
                [str(tmp_path / "run"), "--resample", "5", "--first-study", "0"]):
        with pytest.raises(SystemExit):
            stability.main(bad)
    capsys.readouterr()
