"""What the command line prints: whole figures at 80 columns and in pipes, JSON for programs,
hints that run as printed, `--trial auto`, shell completion, export and report commands."""

import io
import json
import re
import shlex

import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.table import Table

from bench import reporting, results, scoring
from bench.ci import ranking_lines
from bench.cli import main
from bench.cli import display
from bench.cli.output import print_table
from tests.conftest import write_submission
from tests.record_factory import real_record, variant, write_all

FIGURES = ["0.694 [0.472, 0.836]", "11.23s (1.00)", "195.1s (>4)", "1234567"]


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)


def wide_table():
    table = Table(title="a title longer than the terminal is wide, which may fold onto more lines")
    table.add_column("submission")
    table.add_column("score [95% CI]", justify="right")
    for name in ("mnist1d", "mnist1d_gelu", "modular_arithmetic", "digits_autoencoder", "steps"):
        table.add_column(name, justify="right")
    table.add_row("schedule_free_adamw", *FIGURES[:1], *FIGURES[1:3] * 2, FIGURES[3])
    return table


@pytest.mark.parametrize("terminal", [True, False])
def test_tables_never_cut_a_figure(terminal):
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=terminal, color_system=None)
    print_table(wide_table(), console)
    text = out.getvalue()
    assert "…" not in text
    words = text.split()
    for figure in FIGURES:  # every word of every figure is whole, on one line
        for word in figure.split():
            assert word in words, (word, text)
    if terminal:  # names fold so that the table fits the terminal
        assert max(len(line) for line in text.splitlines()) <= 80
        assert "schedule_free_adamw" not in text
    else:  # into a pipe: one line per row, nothing folded
        assert any(all(f in line for f in FIGURES) for line in text.splitlines())
        assert "schedule_free_adamw" in text


def test_headers_of_figures_stay_whole_when_there_is_room():
    table = Table()
    table.add_column("name")
    for header in ("params", "budget", "steps", "variant"):
        table.add_column(header, justify="right")
    table.add_row("a_rather_long_workload_name_" * 2, "25.6M", "18.4h", "195999", "-")
    out = io.StringIO()
    print_table(table, Console(file=out, width=60, force_terminal=True, color_system=None))
    words = out.getvalue().split()
    assert {"params", "budget", "steps", "variant", "25.6M", "195999"} <= set(words)


@pytest.fixture(scope="module")
def seed_record(tmp_path_factory):
    return real_record(tmp_path_factory.mktemp("cli-output"))


def results_with(tmp_path, seed_record, times, ruleset="external"):
    """times: submission -> per study a time (None: a miss), on workload tiny."""
    write_all(tmp_path, [variant(seed_record, submission=s, workload="tiny", study=k, trial=0,
                                 time=t, ruleset=ruleset)
                         for s, studies in times.items() for k, t in enumerate(studies)])
    return tmp_path


def test_score_and_compare_json(tmp_path, seed_record):
    a = results_with(tmp_path / "a", seed_record, {"fast": [2.0, 4.0, 3.0], "slow": [9.0, 30.0, 10.0]})
    scored = invoke("score", a, "--json", "--bootstrap", "10", "--out", tmp_path / "board")
    assert scored.exit_code == 0, scored.output
    board = json.loads(scored.output)
    medians = {(r["submission"], r["workload"]): r["median"] for r in board["rows"]}
    assert medians == {("fast", "tiny"): 3.0, ("slow", "tiny"): 10.0}
    assert board["scores"]["fast"] == 1.0 and str(tmp_path / "board" / "leaderboard.md") in board["files"]

    b = results_with(tmp_path / "b", seed_record, {"fast": [1.0, 2.0, None]})
    compared = invoke("compare", a / "external" / "fast", b, "--json")
    assert compared.exit_code == 0, compared.output
    (row,) = json.loads(compared.output)["rows"]
    assert row["a"]["median"] == 3.0 and row["b"]["median"] == 2.0  # median(1, 2, inf) = 2
    assert row["ratio"] == pytest.approx(2.0 / 3.0) and row["b"]["studies"] == [1.0, 2.0, None]


def test_list_json():
    workloads = json.loads(invoke("list", "workloads", "--json").output)
    by_name = {w["name"]: w for w in workloads["workloads"]}
    from workloads.targets import read_report
    assert by_name["mnist1d"]["step_hint"] == read_report("mnist1d")["step_hint"]
    assert by_name["mnist1d"]["tier"] == "cpu" and by_name["digits"]["tier"] == "smoke"
    submissions = json.loads(invoke("list", "submissions", "--json").output)["submissions"]
    nadamw = next(s for s in submissions if s["name"] == "nadamw")
    assert "learning_rate" in nadamw["default_hparams"] and nadamw["error"] is None


def test_check_json_reports_a_broken_submission(tmp_path):
    path = write_submission(tmp_path, "DEFAULT_HPARAMS = {}\n", name="noapi")
    result = invoke("check", path, "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["valid"] is False and not all(c["ok"] for c in report["checks"])


def test_run_json_and_trial_auto(tmp_path):
    args = ["run", "-w", "mnist1d_mlp", "-s", "nadamw", "--max-steps", "3", "--eval-period",
            "1000", "--results-dir", tmp_path, "--trial", "auto"]
    first = invoke(*args, "--json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)  # nothing but the JSON document: no progress bar
    assert data["record"]["steps"] == 3 and data["path"].endswith("trial_0.json")
    second = invoke(*args, "--hparam", "learning_rate=0.01")
    assert second.exit_code == 0 and "trial_1.json" in second.output
    assert invoke(*args[:-1], "x").exit_code == 2


def test_next_trial_counts_records_checkpoints_and_set_aside_files(tmp_path):
    assert results.next_trial(tmp_path, "single", "s", "w") == 0
    folder = tmp_path / "single" / "s" / "w" / "study_0"
    folder.mkdir(parents=True)
    (folder / "trial_0.json").write_text("{}")
    (folder / "trial_3.ckpt").write_text("")
    (folder / "trial_4.json.replaced-20260101").write_text("{}")
    assert results.next_trial(tmp_path, "single", "s", "w") == 5
    assert results.next_trial(tmp_path, "single", "s", "w", study=1) == 0


def hint(output: str, pattern: str) -> list[str]:
    match = re.search(pattern, output)
    assert match, output
    words = shlex.split(match.group(1))
    assert words[0] == "bench"
    return words[1:]


def test_printed_hints_run_as_printed(tmp_path, seed_record, monkeypatch):
    """study's score hint (with external records in the same folder) and refine's run hint,
    printed on a narrow terminal: each is one line and runs as printed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(display.console, "width", 60)
    results_with(tmp_path / "res", seed_record, {"other": [1.0]})  # external tuning records
    # this machine's clock (cpu-v2): refine needs 3 gradient norms from 40 steps, and beside a
    # reference point (cpu-v3) the loop synchronises less often
    studied = invoke("study", "-s", "nadamw", "-w", "mnist1d_mlp", "--ruleset", "self",
                     "--studies", "1", "--max-steps", "40", "--in-process", "--rules", "cpu-v2",
                     "--results-dir", tmp_path / "res")
    assert studied.exit_code == 0, studied.output
    scored = invoke(*hint(studied.output, r"score with `([^`\n]+)`"))
    assert scored.exit_code == 0, scored.output

    record = next((tmp_path / "res" / "self").rglob("trial_0.json"))
    refined = invoke("refine", "--from", record, "--out", tmp_path / "refined schedule.json")
    assert refined.exit_code == 0, refined.output
    command = hint(refined.output, r"use it: ([^\n]+)\n")
    ran = invoke(*command, "--max-steps", "3", "--eval-period", "1000")
    assert ran.exit_code == 0, ran.output


def test_no_progress_bar_before_an_error(tmp_path):
    for args in (["-w", "mnist", "--data-dir", tmp_path],  # dataset not prepared
                 ["-w", "mnist1d_mlp", "--hparam", "nope=1"]):  # unknown hyperparameter
        result = invoke("run", "-s", "nadamw", *args)
        assert result.exit_code == 2, result.output
        assert "compiling" not in result.output and "step 0" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_completion_script_and_completions():
    script = invoke("completion", "bash")
    assert script.exit_code == 0 and "_BENCH_COMPLETE=bash_complete" in script.output
    for words, expected in (("bench li", "list"), ("bench export --format ", "parquet")):
        env = {"_BENCH_COMPLETE": "bash_complete", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split(" ")) - 1)}
        result = CliRunner().invoke(main, [], env=env, prog_name="bench")
        assert f"plain,{expected}" in result.output.splitlines(), result.output
    assert invoke("completion", "tcsh").exit_code == 2


def test_export_and_report_commands(tmp_path, seed_record):
    res = results_with(tmp_path / "res", seed_record, {"fast": [2.0], "slow": [None]})
    exported = invoke("export", res, "--format", "csv", "--out", tmp_path / "tables")
    assert exported.exit_code == 0, exported.output
    trials = (tmp_path / "tables" / "trials.csv").read_text().splitlines()
    assert len(trials) == 3 and trials[0].startswith("ruleset,submission,workload,study,trial")
    reported = invoke("report", res, "--out", tmp_path / "site", "--bootstrap", "10")
    assert reported.exit_code == 0, reported.output
    assert "file://" in reported.output and (tmp_path / "site" / "index.html").exists()


def test_ci_ranking_writes_ratios_as_score_does(tmp_path, seed_record):
    """A hit more than 4x slower than the best is 'over 4x' in both; a miss is 'miss'."""
    records = [variant(seed_record, submission=s, workload="tiny", study=0, trial=0, time=t)
               for s, t in (("best", 2.0), ("slow", 9.0), ("never", None))]
    board = scoring.score(records, bootstrap_samples=0)
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(reporting.rich_table(board))
    medians = {s: {"tiny": e["tiny"].median} for s, e in board.entries.items()}
    lines = "\n".join(ranking_lines(board.scores, medians, board.ratios, ["tiny"], "time", "slow"))
    for text in (out.getvalue(), lines):
        assert "9.00s (over 4x)" in text and "miss" in text and "2.00s (1.00)" in text


def test_a_trials_time_split_names_the_clock_of_each_figure():
    record = {"submission_time": 16.5, "steps": 22126, "eval_time": 6.4, "compile_time": 0.5,
              "wall_time": 56.8, "clock_rate": None}
    assert display.time_split(record) == [
        "submission time 16.5s over 22126 steps; eval 6.4s and compile 0.5s not counted; "
        "wall 56.8s"]
    counted, apart = display.time_split({**record, "clock_rate": 2.45})
    assert counted == ("submission time 16.5 reference s over 22126 steps (this machine took "
                       "2.45x the seconds of the one that set the budget)")
    assert apart.endswith("wall 56.8s (this machine's seconds)")
    titles = [display.eval_summary_table({**record, "evals": [], "clock_rate": rate,
                                          "workload_spec": {"target_metric": "loss"}}).title
              for rate in (None, 2.45)]
    assert [display.seconds({"clock_rate": rate}) for rate in (None, 2.45)] == [
        "s", " reference s"]
    assert titles == ["Evaluation curve (submission time; eval time not counted)",
                      "Evaluation curve (submission time in reference seconds; eval time not "
                      "counted)"]
