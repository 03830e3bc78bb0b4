"""Telling a run timed on a busy machine from its evaluation curve (bench.steadiness)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import steadiness

ROOT = Path(__file__).resolve().parents[1]


def curve(per_step_ms: list[float], every: int = 100) -> tuple[list[int], list[float]]:
    """Evaluation steps and submission times of a run whose intervals took `per_step_ms`."""
    steps, times = [0], [0.0]
    for ms in per_step_ms:
        steps.append(steps[-1] + every)
        times.append(times[-1] + every * ms / 1000)
    return steps, times


def test_step_times_leave_out_the_first_interval_and_empty_ones():
    steps, times = [0, 100, 200, 200, 300], [0.0, 0.5, 0.6, 0.6, 0.8]
    # 0-100: 5 ms a step, left out; 100-200: 1 ms; 200-200: no steps; 200-300: 2 ms
    assert steadiness.step_times(steps, times) == pytest.approx([0.001, 0.002])


def test_a_steady_run_has_no_slow_intervals():
    steps, times = curve([2.0] + [0.70, 0.72, 0.74, 0.71, 0.80] * 8)  # slowest 0.80 < 1.3*0.70
    assert steadiness.slow_share(steps, times) == 0.0
    assert not steadiness.is_unsteady(0.0)


def test_one_slow_interval_in_forty_is_tolerated():
    steps, times = curve([2.0] + [0.70] * 39 + [1.20])
    share = steadiness.slow_share(steps, times)
    assert share == pytest.approx(1 / 40)
    assert not steadiness.is_unsteady(share)


def test_a_busy_stretch_makes_the_run_unsteady():
    # 15 of 20 intervals at 1.1 ms: the 10th percentile is still a quiet interval (0.7 ms)
    steps, times = curve([2.0] + [0.70] * 5 + [1.10] * 15)
    share = steadiness.slow_share(steps, times)
    assert share == pytest.approx(15 / 20)
    assert steadiness.is_unsteady(share)


def test_a_uniformly_slow_run_is_steady():
    # slow throughout is a slower machine, not interference: nothing to compare against
    steps, times = curve([2.0] + [1.10] * 20)
    assert steadiness.slow_share(steps, times) == 0.0


def test_too_short_a_run_says_nothing():
    steps, times = curve([2.0] + [0.7, 1.5] * 4)  # 8 intervals after the first
    assert steadiness.slow_share(steps, times) is None
    assert not steadiness.is_unsteady(None)


def test_records_and_target_curves_are_read():
    steps, times = curve([2.0] + [0.70] * 10 + [1.10] * 10)
    record = {"evals": [{"step": s, "submission_time": t, "validation/accuracy": 0.5}
                        for s, t in zip(steps, times)]}
    assert steadiness.record_slow_share(record) == pytest.approx(0.5)
    target_curve = [(s, t, 0.5) for s, t in zip(steps, times)]
    assert steadiness.curve_slow_share(target_curve) == pytest.approx(0.5)


def test_a_uniformly_slow_run_is_slow_against_its_siblings():
    medians = [steadiness.median_step_time(*curve([2.0] + [ms] * 20)) for ms in (0.7, 0.75, 1.1)]
    assert medians == pytest.approx([0.0007, 0.00075, 0.0011])
    assert steadiness.slow_against_siblings(medians) == [False, False, True]  # 1.1 > 1.3*0.7
    assert steadiness.slow_against_siblings([0.0011, None]) == [False, False]
    assert steadiness.median_step_time(*curve([2.0] * 5)) is None


def write_trial(directory, study, per_step_ms, clock_rate=None):
    steps, times = curve(per_step_ms)
    path = directory / "self" / "sub" / "wl" / f"study_{study}" / "trial_0.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"submission": "sub", "workload": "wl", "clock_rate": clock_rate,
                                "evals": [{"step": s, "submission_time": t}
                                          for s, t in zip(steps, times)]}))
    return path


def test_a_trial_on_the_reference_clock_is_judged_against_its_siblings_alone():
    def record(per_step_ms, clock_rate):
        steps, times = curve(per_step_ms)
        return {"clock_rate": clock_rate,
                "evals": [{"step": s, "submission_time": t} for s, t in zip(steps, times)]}

    busy = [2.0] + [0.70] * 10 + [1.10] * 10  # half its intervals slow: unsteady on a plain clock
    assert steadiness.record_unsteady(record(busy, None))
    assert not steadiness.record_unsteady(record(busy, 2.5))
    # median 0.9 ms against 0.7: within 1.3x; 1.1 ms throughout: slow against its siblings
    runs = [record([2.0] + [0.70] * 20, 2.5), record(busy, 2.5), record([2.0] + [1.10] * 20, 2.6)]
    assert steadiness.suspect(runs) == [False, False, True]


def test_the_script_flags_unsteady_and_slow_trials_and_sets_them_aside(tmp_path):
    steady = write_trial(tmp_path, 0, [2.0] + [0.70] * 20)
    busy = write_trial(tmp_path, 1, [2.0] + [0.70] * 10 + [1.10] * 10)
    slow = write_trial(tmp_path, 2, [2.0] + [1.10] * 20)
    script = [sys.executable, "scripts/reference/steadiness.py", str(tmp_path)]
    result = subprocess.run(script, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "2 of 3 trials unsteady or slow" in result.stdout
    assert steady.exists() and busy.exists() and slow.exists()  # listing moves nothing
    moved = subprocess.run(script + ["--set-aside"], cwd=ROOT, capture_output=True, text=True)
    assert moved.returncode == 0, moved.stderr
    assert steady.exists() and not busy.exists() and not slow.exists()
    assert len(list(busy.parent.glob("trial_0.json.replaced-*"))) == 1  # kept, renamed


def test_the_script_judges_reference_clock_trials_against_their_siblings(tmp_path):
    write_trial(tmp_path, 0, [2.0] + [0.70] * 20, clock_rate=2.5)
    write_trial(tmp_path, 1, [2.0] + [0.70] * 10 + [1.10] * 10, clock_rate=2.5)
    slow = write_trial(tmp_path, 2, [2.0] + [1.10] * 20, clock_rate=2.5)
    script = [sys.executable, "scripts/reference/steadiness.py", str(tmp_path), "--set-aside"]
    result = subprocess.run(script, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "1 of 3 trials unsteady or slow" in result.stdout and "n/a" in result.stdout
    assert not slow.exists()


def test_slow_only_flags_the_trials_slow_against_their_siblings_alone(tmp_path):
    steady = write_trial(tmp_path, 0, [2.0] + [0.70] * 20)
    busy = write_trial(tmp_path, 1, [2.0] + [0.70] * 10 + [1.10] * 10)  # median 0.9: < 1.3x
    slow = write_trial(tmp_path, 2, [2.0] + [1.10] * 20)  # 1.1 ms against 0.7: over 1.3x
    script = [sys.executable, "scripts/reference/steadiness.py", str(tmp_path), "--slow-only",
              "--set-aside"]
    result = subprocess.run(script, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "1 of 3 trials slow against their siblings" in result.stdout
    assert steady.exists() and busy.exists() and not slow.exists()


def test_set_targets_names_the_seeds_timed_on_a_busy_machine(capsys):
    from types import SimpleNamespace

    from bench.cli import science
    from bench.targets import SeedRun

    def seed_run(seed, per_step_ms):
        steps, times = curve(per_step_ms)
        return SeedRun(seed, 0.9, [(s, t, 0.9) for s, t in zip(steps, times)])

    quiet = SimpleNamespace(seeds=[seed_run(100, [2.0] + [0.7] * 20)])
    science.warn_unsteady_seeds(quiet)
    assert "unsteadily" not in capsys.readouterr().out
    busy = SimpleNamespace(seeds=[seed_run(100, [2.0] + [0.7] * 20),
                                  seed_run(101, [2.0] + [0.7] * 10 + [1.1] * 10)])
    science.warn_unsteady_seeds(busy)
    out = capsys.readouterr().out
    assert "101 (50% of intervals slow)" in out and "100 (" not in out
    assert "--remeasure" in out
