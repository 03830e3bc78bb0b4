"""Leaderboard files, plots, `bench score` and `bench compare` on hand-built records."""

import csv
import json
import math

from click.testing import CliRunner

from bench import compare, reporting, scoring
from bench.cli import main
from bench.trial.record import TrialId, write_record
from tests.test_scoring import record
from tests.test_trial_record import complete_record

INF = math.inf


def with_curve(rec):
    rec = dict(rec)
    rec["evals"] = [
        {"step": 0, "submission_time": 0.0, "validation/accuracy": 0.1},
        {"step": 10, "submission_time": rec["time_to_target"] or 5.0, "validation/accuracy": 0.95},
    ]
    return rec


def sample_records():
    return [with_curve(r) for r in [
        record("A", "w1", 0, 10.0), record("A", "w1", 1, 12.0), record("A", "w2", 0, INF),
        record("A", "w2", 1, INF), record("B", "w1", 0, 20.0), record("B", "w1", 1, 22.0),
        record("B", "w2", 0, 30.0), record("B", "w2", 1, 31.0),
    ]]


def test_leaderboard_files(tmp_path):
    records = sample_records()
    board = scoring.score(records, bootstrap_samples=20)
    paths = reporting.write_leaderboard(board, tmp_path, records, command="bench score x")
    names = sorted(p.name for p in paths)
    assert names == sorted([
        "leaderboard.md", "leaderboard.csv", "leaderboard.json", "performance_profile.png",
        "performance_profile.svg", "curves_w1.png", "curves_w2.png",
    ])
    for path in paths:
        assert path.stat().st_size > 0
    md = (tmp_path / "leaderboard.md").read_text()
    assert "    bench score x" in md
    # A: ratio 1 on w1, missed w2 -> 0.5. B: ratio 21/11 on w1, alone on w2 -> above 0.5.
    assert board.scores["A"] == 0.5 and board.submissions == ["B", "A"]
    assert md.index(f"| B | {board.scores['B']:.3f} |") < md.index("| A | 0.500 |")
    rows = list(csv.DictReader((tmp_path / "leaderboard.csv").open()))
    by_key = {(r["submission"], r["workload"]): r for r in rows}
    assert float(by_key["A", "w1"]["median"]) == 11.0
    assert by_key["A", "w2"]["median"] == "inf" and by_key["A", "w2"]["studies_hit"] == "0"
    assert float(by_key["B", "w1"]["ratio"]) == 21.0 / 11.0
    data = json.loads((tmp_path / "leaderboard.json").read_text())
    assert data["scores"]["A"] == board.scores["A"]
    assert len(data["profiles"]["A"]) == 100
    svg = (tmp_path / "performance_profile.svg").read_text()
    assert "<svg" in svg


def test_compare_marks_changes():
    a = [record("X", "w1", 0, 10.0), record("X", "w2", 0, 10.0), record("X", "w3", 0, INF),
         record("X", "w4", 0, 10.0), record("X", "w5", 0, 10.0)]
    b = [record("X", "w1", 0, 5.0), record("X", "w2", 0, 10.2), record("X", "w3", 0, 8.0),
         record("X", "w4", 0, INF), record("X", "w6", 0, 3.0)]
    rows = {row.workload: row for row in compare.compare(a, b)}
    assert rows["w1"].change == "faster" and rows["w1"].ratio == 0.5
    assert rows["w2"].change == "same"
    assert rows["w3"].change == "now hits"
    assert rows["w4"].change == "now misses"
    assert rows["w5"].change == "only in A" and rows["w6"].change == "only in B"


def test_compare_pairs_two_single_submissions_whatever_their_names():
    rows = compare.compare([record("old", "w", 0, 10.0)], [record("new", "w", 0, 20.0)])
    assert len(rows) == 1 and rows[0].change == "slower"
    assert (rows[0].submission_a, rows[0].submission_b) == ("old", "new")


def _write(results, records):
    for rec in records:
        trial_id = TrialId(rec["ruleset"], rec["submission"], rec["workload"], rec["study"],
                           rec["trial"])
        write_record(trial_id.path(results), complete_record(rec))


def test_score_and_compare_commands(tmp_path):
    _write(tmp_path / "r", sample_records())
    runner = CliRunner()
    result = runner.invoke(main, ["score", str(tmp_path / "r"), "--out", str(tmp_path / "out"),
                                  "--bootstrap", "10"])
    assert result.exit_code == 0, result.output
    assert "Leaderboard" in result.output and (tmp_path / "out" / "leaderboard.md").exists()
    _write(tmp_path / "b", [record("A", "w1", 0, 5.0)])
    result = runner.invoke(main, ["compare", str(tmp_path / "r"), str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "faster" in result.output


def test_score_refuses_mixed_hardware_in_one_line(tmp_path):
    _write(tmp_path, [record("A", "w", 0, 1.0, fingerprint="m1"),
                      record("B", "w", 0, 1.0, fingerprint="m2")])
    result = CliRunner().invoke(main, ["score", str(tmp_path)])
    assert result.exit_code == 2 and "different machines" in result.output
    assert "Traceback" not in result.output


def test_score_reports_a_corrupt_record_by_name(tmp_path):
    _write(tmp_path, [record("A", "w", 0, 1.0)])
    bad = tmp_path / "external" / "A" / "w" / "study_0" / "trial_1.json"
    bad.write_text("{")
    result = CliRunner().invoke(main, ["score", str(tmp_path)])
    assert result.exit_code == 2 and "trial_1.json" in result.output
