"""bench.fidelity on hand-made published results, the shipped data files, and the script."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench import fidelity
from bench.fidelity import Finding, Published, PublishedScore, Source

ROOT = Path(__file__).resolve().parents[1]

SOURCES = {
    "lb": Source("lb", "A leaderboard", "LB", "some/repo, README.md at commit 0"),
    "paper": Source("paper", "A paper", "Paper", "arXiv 0000.00000"),
}
# Published: x 0.9 > y 0.8 > z 0.1 (z ran another point than its default), one finding: w below y.
PUBLISHED = Published(
    SOURCES,
    [PublishedScore("x", "lb", "self", "X", "f/x", 0.9, 1, 3, point="default"),
     PublishedScore("y", "lb", "self", "Y", "f/y", 0.8, 2, 3, point="default"),
     PublishedScore("z", "lb", "self", "Z", "f/z", 0.1, 3, 3, point="calibrated.json"),
     PublishedScore("x", "lb", "external", "X", "f/x", 0.5, 1, 1)],
    [Finding("w", "paper", "self", "w is worse than y", below="y"),
     Finding("x", "paper", "self", "a finding with nothing to compare")],
)
# The cpu tier: y 1.0 > x 0.5 > w 0.4 > z 0.2, v 0.3 has nothing published.
BOARD = {"x": 0.5, "y": 1.0, "z": 0.2, "w": 0.4, "v": 0.3}


def test_verdicts_against_a_leaderboard_and_a_finding():
    rows = {row.submission: row for row in fidelity.fidelity_rows(BOARD, "self", PUBLISHED)}
    assert list(rows) == ["y", "x", "w", "v", "z"]  # the cpu tier's order
    assert (rows["y"].cpu_rank, rows["z"].cpu_rank) == (1, 5)
    # x: published above y and z; cpu tier: below y, above z -> out of order against y only.
    # z ran another point, so every verdict on this leaderboard is marked.
    assert rows["x"].verdicts == [fidelity.Verdict("lb", False, ("y",), other_point=True)]
    assert rows["y"].verdicts == [fidelity.Verdict("lb", False, ("x",), other_point=True)]
    assert rows["z"].verdicts == [fidelity.Verdict("lb", True, ("x", "y"), other_point=True)]
    # w below y: 0.4 < 1.0 agrees
    assert rows["w"].verdicts == [fidelity.Verdict("paper", True, ("y",))]
    assert rows["v"].verdicts == [] and rows["v"].published == {}


def test_pairs_whose_cpu_tier_intervals_overlap_are_ties_not_verdicts():
    # x [0.4, 0.6] overlaps y [0.55, 1.0]; z [0.1, 0.3] is apart from both; w [0.3, 0.56]
    # overlaps y, so the finding "w below y" is a tie, though 0.4 < 1.0 agrees with it.
    intervals = {"x": (0.4, 0.6), "y": (0.55, 1.0), "z": (0.1, 0.3), "w": (0.3, 0.56)}
    rows = {row.submission: row
            for row in fidelity.fidelity_rows(BOARD, "self", PUBLISHED, intervals)}
    # x: out of order against y without intervals (above); with them that pair is a tie and
    # the one ordered pair (x above z) agrees.
    assert rows["x"].verdicts == [fidelity.Verdict("lb", True, ("z",), True, ("y",))]
    assert rows["y"].verdicts == [fidelity.Verdict("lb", True, ("z",), True, ("x",))]
    assert rows["z"].verdicts == [fidelity.Verdict("lb", True, ("x", "y"), True, ())]
    assert rows["w"].verdicts == [fidelity.Verdict("paper", None, (), False, ("y",))]
    # an interval missing for one of a pair leaves that pair ordered
    rows = {row.submission: row for row in
            fidelity.fidelity_rows(BOARD, "self", PUBLISHED, {"x": (0.4, 0.6)})}
    assert rows["x"].verdicts == [fidelity.Verdict("lb", False, ("y",), other_point=True)]
    text = fidelity.markdown(BOARD, "self", PUBLISHED, intervals)
    assert "| x | 0.500 [0.400, 0.600] (2) | 0.9000 (1/3) | a finding with nothing to compare " \
        "| LB: yes; tie with y† |" in text
    assert "| w | 0.400 [0.300, 0.560] (3) | - | w is worse than y | Paper: tie with y |" in text
    assert "| v | 0.300 (4) |" in text  # no interval given for v
    assert '"tie": the two submissions\' intervals overlap' in text


def test_kendall_tau_over_the_submissions_in_both():
    # Pairs over x, y, z: (x,y) discordant, (x,z) (y,z) concordant: tau = (2 - 1) / 3.
    taus = fidelity.kendall_taus(BOARD, "self", PUBLISHED)
    assert list(taus) == ["lb"]
    assert taus["lb"][0] == pytest.approx(1 / 3) and taus["lb"][1] == ["x", "y", "z"]
    tau, common = fidelity.kendall_taus({"x": 0.2}, "external", PUBLISHED)["lb"]
    assert math.isnan(tau) and common == ["x"]


def test_ties_and_missing_submissions_give_no_verdict():
    board = {"x": 0.5, "y": 0.5, "w": 0.5}
    rows = {row.submission: row for row in fidelity.fidelity_rows(board, "self", PUBLISHED)}
    assert rows["x"].verdicts == [] and rows["w"].verdicts == []
    assert rows["z"].cpu_score is None and rows["z"].verdicts == []  # not on the cpu board


def test_markdown_table():
    text = fidelity.markdown(BOARD, "self", PUBLISHED)
    assert "| submission | cpu-tier score (rank) | LB | Paper | agree? |" in text
    assert "| x | 0.500 (2) | 0.9000 (1/3) | a finding with nothing to compare | LB: no (vs y)† |" \
        in text
    assert "| z | 0.200 (5) | 0.1000 (3/3)† | - | LB: yes† |" in text
    assert "| w | 0.400 (3) | - | w is worse than y | Paper: yes |" in text
    assert "over 3 submissions in both (x, y, z): 0.333." in text
    assert "- Paper: A paper; arXiv 0000.00000" in text


def test_shipped_published_results_cite_their_sources():
    from bench import registry

    published = fidelity.load_published()
    shipped = set(registry.submission_names())
    assert {"algoperf_v05", "algoperf_v06", "lr_free_study"} <= set(published.sources)
    for source in published.sources.values():
        assert "commit" in source.citation or "arXiv" in source.citation
    for entry in published.scores:
        assert entry.submission in shipped and 0 <= entry.score <= 1
        assert 1 <= entry.rank <= entry.entries and entry.ruleset in ("self", "external")
    for finding in published.findings:
        assert finding.submission in shipped and finding.below in (None, *shipped)
    # the v0.5 self-tuning ranking the issue quotes: Schedule-Free AdamW first, NadamW second
    v05_self = sorted((e.rank, e.submission) for e in published.scores
                      if e.source == "algoperf_v05" and e.ruleset == "self")
    assert v05_self == [(1, "schedule_free_adamw"), (2, "nadamw")]


def test_unknown_source_is_refused(tmp_path):
    (tmp_path / "x.toml").write_text(
        '[[findings]]\nsubmission = "a"\nsource = "nowhere"\nruleset = "self"\nfinding = "f"\n')
    with pytest.raises(ValueError, match="unknown sources: nowhere"):
        fidelity.load_published(tmp_path)


def test_fidelity_script(tmp_path):
    spec = importlib.util.spec_from_file_location("reference_fidelity",
                                                  ROOT / "scripts/reference/fidelity.py")
    script = sys.modules["reference_fidelity"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    board = tmp_path / "leaderboard.json"
    board.write_text(json.dumps({"ruleset": "self",
                                 "scores": {"nadamw": 0.6, "schedule_free_adamw": 0.9}}))
    out = tmp_path / "fidelity.md"
    result = CliRunner().invoke(script.main, [str(board), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "| schedule_free_adamw | 0.900 (1) | 0.8542 (1/6)† |" in out.read_text()
    assert "AlgoPerf v0.5: yes†" in out.read_text()
    # with the leaderboard's bootstrap intervals, overlapping ones make the pair a tie
    board.write_text(json.dumps({"ruleset": "self",
                                 "scores": {"nadamw": 0.6, "schedule_free_adamw": 0.9},
                                 "intervals": {"nadamw": [0.5, 0.85],
                                               "schedule_free_adamw": [0.8, 1.0]}}))
    result = CliRunner().invoke(script.main, [str(board)])
    assert result.exit_code == 0, result.output
    assert "| schedule_free_adamw | 0.900 [0.800, 1.000] (1) | 0.8542 (1/6)† |" in result.output
    assert "AlgoPerf v0.5: tie with nadamw†" in result.output
    assert "Kendall tau-b, cpu tier vs AlgoPerf v0.5 (self), over 2 submissions" in result.output
    board.write_text('{"rows": []}')
    bad = CliRunner().invoke(script.main, [str(board)])
    assert bad.exit_code == 2 and "is not a leaderboard.json" in bad.output
