"""scripts/reference/run.py: the plan of the reference run, resuming, failures, provenance."""

import importlib.util
import json
import sys
import tarfile
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bench.trial.record import read_as_written

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("reference_run", ROOT / "scripts/reference/run.py")
reference = sys.modules["reference_run"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(reference)


def as_written(paths):
    return [record for _, record in read_as_written(paths)[0]]

# A stand-in for `bench`: `study` writes an empty record file for each planned trial (and fails
# for a submission named in $FAIL), `score` writes a leaderboard; each call is noted.
FAKE_BENCH = '''
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["CALLS"], "a") as calls:
    calls.write(json.dumps(args) + "\\n")
def values(flag):
    return [args[i + 1] for i, a in enumerate(args) if a == flag]
if args[0] == "score":
    out = Path(values("--out")[0]); out.mkdir(parents=True, exist_ok=True)
    (out / "leaderboard.md").write_text("scored")
    sys.exit(0)
submission = values("-s")[0]
if submission == os.environ.get("FAIL"):
    sys.exit(1)
trials = int((values("--trials") or ["1"])[0])
for workload in values("-w"):
    for study in range(int(values("--studies")[0])):
        for trial in range(trials):
            path = Path(values("--results-dir")[0], values("--ruleset")[0], submission, workload,
                        f"study_{study}", f"trial_{trial}.json")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}")
'''


def test_default_plan_covers_the_rulesets_submissions():
    from bench import registry

    steps = reference.plan(["self", "external"], (), ["mnist1d_mlp"], studies=3, trials=3)
    self_steps = [s.submission for s in steps if s.ruleset == "self"]
    external = [s.submission for s in steps if s.ruleset == "external"]
    assert self_steps == registry.submission_names() and "autolrs" in self_steps
    assert external == ["nadamw", "sgd_nesterov", "adamw", "prodigy", "dadapt_adamw", "dog",
                        "mechanic", "schedule_free_adamw", "cocob"]
    assert {s.trials for s in steps if s.ruleset == "self"} == {1}
    assert {s.trials for s in steps if s.ruleset == "external"} == {3}


def test_the_external_board_never_replays_a_target_setting_run():
    """set-targets tuned each baseline as external study 0 at seed offset 0; the board's
    external studies must draw other points with other seeds, or a baseline would be timed on
    the very run that set the target (at offset 0 it would be, on most workloads)."""
    from bench import registry, tuning
    from workloads import targets as workload_targets

    def draws(name, study, seed_offset):
        points = tuning.study_points(registry.get_submission(name), "external", study,
                                     reference.DEFAULT_TRIALS, seed_offset=seed_offset)
        # the target reports predate hyperparameter horizon_factor (bench.schedules.horizon)
        return {(json.dumps({k: v for k, v in point.items() if k != "horizon_factor"},
                            sort_keys=True), tuning.trial_seed(study, trial, seed_offset))
                for trial, point in enumerate(points)}

    chosen = []
    for path in sorted(Path(workload_targets.__file__).parent.glob("*.json")):
        pick = json.loads(path.read_text())["chosen"]
        chosen.append((pick["submission"], json.dumps(pick["hparams"], sort_keys=True),
                       pick["seed"]))
    replayed_at_zero = [c for c in chosen if (c[1], c[2]) in draws(c[0], 0, 0)]
    assert len(replayed_at_zero) >= 3  # the hazard is real: offset 0 replays them
    for seed_offset in (0, 1_000_000):
        steps = reference.plan(["external"], reference.BASELINES, ["mnist1d"], studies=3,
                               trials=reference.DEFAULT_TRIALS, seed_offset=seed_offset)
        for step in steps:
            assert step.seed_offset == seed_offset + reference.EXTERNAL_SEED_SHIFT
            board = set().union(*(draws(step.submission, study, step.seed_offset)
                                  for study in range(step.studies)))
            assert not [c for c in chosen if c[0] == step.submission and c[1:] in board]


def test_cpu_workloads_include_the_variants_and_no_full_tier():
    from bench import registry

    names = reference.cpu_workloads()
    specs = [registry.get_workload(name).spec for name in names]
    assert "mnist1d" in names and all(spec.tier == "cpu" for spec in specs)
    assert any(spec.variant_of for spec in specs)  # held-out variants are run too
    assert "imagenet_resnet" not in names and "wmt" not in names


def test_study_and_score_arguments(tmp_path):
    step = reference.Step("external", "dog", ("mnist1d", "digits"), ("mnist1d", "digits"), 3, 2,
                          1_000_000)
    args = reference.study_args(step, tmp_path, rules="cpu-v1", limits=["--max-steps", "5"])
    assert args == ["study", "-s", "dog", "-w", "mnist1d", "-w", "digits", "--ruleset",
                    "external", "--studies", "3", "--trials", "2", "--seed-offset", "1000000",
                    "--results-dir", str(tmp_path), "--rules", "cpu-v1", "--max-steps", "5"]
    selfish = reference.Step("self", "dog", ("mnist1d",), ("mnist1d",), 3, 1)
    assert "--trials" not in reference.study_args(selfish, tmp_path)
    assert len(step.record_paths(tmp_path)) == 2 * 3 * 2
    assert reference.score_args("self", tmp_path, Path("out")) == [
        "score", str(tmp_path), "--ruleset", "self", "--out", "out/self"]


@pytest.fixture
def fake(tmp_path, monkeypatch):
    script = tmp_path / "fake_bench.py"
    script.write_text(FAKE_BENCH)
    monkeypatch.setenv("CALLS", str(tmp_path / "calls.jsonl"))
    monkeypatch.setattr(reference, "POLL_SECONDS", 0.01)

    def run(*extra):
        args = ["-s", "nadamw", "-s", "sgd_nesterov", "-w", "mnist1d_mlp", "--ruleset", "self",
                "--studies", "2", "--results-dir", str(tmp_path / "records"),
                "--out", str(tmp_path / "out"), "--bench", f"{sys.executable} {script}", *extra]
        result = CliRunner().invoke(reference.main, args)
        calls_file = tmp_path / "calls.jsonl"
        calls = [json.loads(line) for line in calls_file.read_text().splitlines()] \
            if calls_file.exists() else []
        calls_file.unlink(missing_ok=True)
        return result, [call[:3] for call in calls]

    return run


def test_runs_every_study_then_scores_and_writes_the_provenance(fake, tmp_path):
    result, calls = fake()
    assert result.exit_code == 0, result.output
    assert calls == [["study", "-s", "nadamw"], ["study", "-s", "sgd_nesterov"],
                     ["score", str(tmp_path / "records"), "--ruleset"]]
    assert len(list((tmp_path / "records" / "self").rglob("trial_0.json"))) == 4
    readme = (tmp_path / "out" / "self" / "README.md").read_text()
    from bench import environment

    assert environment.hardware()["fingerprint"] in readme
    assert "bench study -s sgd_nesterov -w mnist1d_mlp --ruleset self --studies 2" in readme
    assert f"bench score {tmp_path / 'records'} --ruleset self --out" in readme
    assert "2 studies, one trial per study" in readme and "smoke test" not in readme
    assert "Steadiness of the clock: 0 of 4 trials" in readme  # the fake's records are empty
    with tarfile.open(tmp_path / "out" / "self" / "records.tar.xz") as tar:
        assert sorted(tar.getnames()) == sorted(
            f"self/{submission}/mnist1d_mlp/study_{study}/trial_0.json"
            for submission in ("nadamw", "sgd_nesterov") for study in (0, 1))


def test_the_archive_holds_the_records_without_their_training_curves(tmp_path):
    results = tmp_path / "results"
    record = {"outcome": "hit", "evals": [{"step": 0, "validation/accuracy": 0.1}],
              "train_curve": {"step": [1, 2], "loss": [2.3, 2.2]}}
    kept = results / "self/nadamw/mnist1d/study_0/trial_0.json"
    kept.parent.mkdir(parents=True)
    kept.write_text(json.dumps(record))
    missing = results / "self/nadamw/mnist1d/study_1/trial_0.json"
    archive = tmp_path / "out/self/records.tar.xz"
    read, problems = read_as_written([kept, missing])
    assert [path for path, _ in problems] == [missing]
    assert reference.archive_records(read, results, archive) == 1
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    unpacked = json.loads((tmp_path / "unpacked/self/nadamw/mnist1d/study_0/trial_0.json")
                          .read_text())
    assert unpacked == {**record, "train_curve": {}}


def test_unsteady_and_slow_trials_are_counted_from_the_records_evaluations(tmp_path):
    def record(study, per_step_ms):  # evaluations every 100 steps, the first interval left out
        times = [0.0]
        for ms in per_step_ms:
            times.append(times[-1] + 0.1 * ms)
        return {"submission": "s", "workload": "w", "study": study,
                "evals": [{"step": 100 * i, "submission_time": t} for i, t in enumerate(times)]}

    runs = {"steady": [2.0] + [0.7] * 20, "busy": [2.0] + [0.7] * 10 + [1.1] * 10,
            "slow": [2.0] + [1.0] * 20, "short": [2.0] + [1.1] * 3}
    paths = []
    for study, (name, per_step) in enumerate(runs.items()):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(record(study, per_step)))
    paths.append(tmp_path / "missing.json")
    # busy: half its intervals slow; slow: 1.0 ms against the steady sibling's 0.7 (> 1.3x);
    # busy's median (0.9 ms) is not over 1.3x, short is too short to judge either way
    facts = reference.record_facts(as_written(paths))
    assert (facts.unsteady, facts.trials) == (2, 4)


def test_a_boards_rates_dates_and_commits_come_from_its_records(tmp_path):
    paths = []
    for name, content in (
            ("a", {"clock_rate": 2.5, "finished_at": "2026-12-02T05:00:00+00:00",
                   "git_commit": "b" * 40, "hardware": {"cpu": "EPYC", "cpu_count": 2,
                                                        "backend": "cpu", "fingerprint": "f1"}}),
            ("b", {"clock_rate": 3.25, "finished_at": "2026-12-01T21:00:00+00:00",
                   "git_commit": "a" * 40, "hardware": {"cpu": "Xeon", "cpu_count": 2,
                                                        "backend": "cpu", "fingerprint": "f2"}}),
            ("c", {"finished_at": "2026-12-03T01:00:00+00:00", "git_commit": "b" * 40}),
            ("d", "not json")):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(content if isinstance(content, str) else json.dumps(content))
    facts = reference.record_facts(as_written(paths + [tmp_path / "missing.json"]))
    assert facts.trials == 3 and facts.rates == (2.5, 3.25)
    assert facts.span == ("2026-12-01T21:00:00+00:00", "2026-12-03T01:00:00+00:00")
    assert facts.commits == ("a" * 40, "b" * 40)
    assert reference.record_facts(as_written(paths[2:])).rates is None
    step = reference.Step("self", "nadamw", ("w",), ("w",), 3, 1)
    text = reference.provenance("self", "cmd", [], "t0", "t1", {}, [step], None, facts=facts)
    assert "took 2.50-3.25x the seconds of the machine that set the budgets" in text
    assert "Trials finished from 2026-12-01T21:00:00+00:00 to 2026-12-03T01:00:00+00:00" in text
    assert f"the trials ran at `{'a' * 12}`, `{'b' * 12}`" in text
    # a board made in sittings names every machine its trials ran on, not the scoring one's
    assert ("The trials ran on EPYC (2 CPUs, backend cpu), hardware fingerprint `f1`; Xeon "
            "(2 CPUs, backend cpu), hardware fingerprint `f2`") in text


def test_a_rerun_skips_finished_studies(fake, tmp_path):
    fake()
    (tmp_path / "records/self/nadamw/mnist1d_mlp/study_1/trial_0.json").unlink()  # interrupted
    result, calls = fake()
    assert result.exit_code == 0, result.output
    assert [call[:3] for call in calls] == [["study", "-s", "nadamw"],
                                            ["score", str(tmp_path / "records"), "--ruleset"]]


def test_an_interim_board_continues_from_its_archive_on_a_fresh_machine(fake, tmp_path):
    fake()
    records, out = tmp_path / "records", tmp_path / "out"
    for study in (0, 1):  # sgd_nesterov's trials have not run yet
        (records / f"self/sgd_nesterov/mnist1d_mlp/study_{study}/trial_0.json").unlink()
    result, calls = fake("--interim")
    assert result.exit_code == 0, result.output
    assert calls == [["score", str(records), "--ruleset"]]  # no trial runs
    readme = (out / "self" / "README.md").read_text()
    assert "Interim: 2 of its 4 trials are recorded" in readme
    command = next(line for line in readme.splitlines() if "scripts/reference/run.py" in line)
    assert "--interim" not in command  # the command that continues the board
    archive = out / "self" / "records.tar.xz"
    records.rename(tmp_path / "lost")  # the next sitting's machine has none of them
    result, calls = fake("--records-from", str(archive))
    assert result.exit_code == 0, result.output
    assert "2 records unpacked" in result.output
    assert calls == [["study", "-s", "sgd_nesterov"], ["score", str(records), "--ruleset"]]
    assert "Interim" not in (out / "self" / "README.md").read_text()


def test_restoring_keeps_the_records_already_there(tmp_path):
    source, results = tmp_path / "source", tmp_path / "results"
    for name, content in (("a", "archived a"), ("b", "archived b")):
        path = source / f"self/s/w/study_0/trial_{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    archive = tmp_path / "records.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(source / "self", arcname="self")
    kept = results / "self/s/w/study_0/trial_a.json"
    kept.parent.mkdir(parents=True)
    kept.write_text("newer a")
    assert reference.restore_records(archive, results) == 1
    assert kept.read_text() == "newer a"
    assert (results / "self/s/w/study_0/trial_b.json").read_text() == "archived b"
    (tmp_path / "broken.tar.xz").write_text("not a tarball")
    with pytest.raises(click.BadParameter, match="cannot read"):
        reference.restore_records(tmp_path / "broken.tar.xz", results)


def test_no_score_runs_the_trials_and_stops(fake, tmp_path):
    result, calls = fake("--no-score")
    assert result.exit_code == 0, result.output
    assert calls == [["study", "-s", "nadamw"], ["study", "-s", "sgd_nesterov"]]
    assert not (tmp_path / "out").exists()
    said = " ".join(result.output.split())
    assert "scored later" in said and "leaderboards to" not in said


def test_a_failed_study_stops_the_scoring_not_the_others(fake, monkeypatch):
    monkeypatch.setenv("FAIL", "nadamw")
    result, calls = fake()
    assert result.exit_code == 1
    assert calls == [["study", "-s", "nadamw"], ["study", "-s", "sgd_nesterov"]]
    assert "1 studies failed; nothing scored" in result.output


def test_refusals(tmp_path):
    inside = CliRunner().invoke(reference.main, ["--dry-run", "--results-dir", str(ROOT / "r")])
    assert inside.exit_code == 2 and "inside the repository" in inside.output
    offset = CliRunner().invoke(reference.main, ["--dry-run", "--seed-offset", "1000000",
                                                 "--results-dir", str(tmp_path)])
    assert offset.exit_code == 2 and "an --out of its own" in offset.output
    unscored = CliRunner().invoke(reference.main, ["--dry-run", "--seed-offset", "1000000",
                                                   "--no-score", "--results-dir", str(tmp_path)])
    assert unscored.exit_code == 0, unscored.output  # scores nothing, so needs no --out
    both = CliRunner().invoke(reference.main, ["--interim", "--no-score", "--results-dir",
                                               str(tmp_path)])
    assert both.exit_code == 2 and "give one" in both.output


def finished_at(results_dir):
    """Each trial record under `results_dir` (by its path there) and when it finished."""
    return {path.relative_to(results_dir): json.loads(path.read_text())["finished_at"]
            for path in results_dir.rglob("trial_*.json")}


@pytest.mark.slow
def test_a_real_smoke_run(tmp_path):
    """The real `bench study` and `bench score` on a tiny workload (about 20 s)."""
    args = ["-s", "nadamw", "-s", "sgd_nesterov", "-w", "tests.conftest:TINY", "--ruleset",
            "self", "--studies", "2", "--max-steps", "20", "--results-dir", str(tmp_path / "r"),
            "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(reference.main, args)
    assert result.exit_code == 0, result.output
    board = json.loads((tmp_path / "out/self/leaderboard.json").read_text())
    assert sorted(board["scores"]) == ["nadamw", "sgd_nesterov"]
    records = (tmp_path / "r").rglob("trial_*.json")
    seeds = sorted(json.loads(path.read_text())["seed"] for path in records)
    assert seeds == [0, 0, 1000, 1000]
    assert "smoke test" in (tmp_path / "out/self/README.md").read_text()
    # a fresh machine continues from the archive: `bench study` takes its records (training
    # curves emptied) as finished trials and runs none of them again
    archived = finished_at(tmp_path / "r")
    (tmp_path / "r").rename(tmp_path / "lost")
    again = CliRunner().invoke(reference.main,
                               [*args, "--records-from", str(tmp_path / "out/self/records.tar.xz")])
    assert again.exit_code == 0, again.output
    restored = finished_at(tmp_path / "r")
    assert restored == archived and len(restored) == 4


def sitting_calls(tmp_path, *args, out):
    """The run.py calls of scripts/reference/sitting.sh, with a stand-in Python that notes them;
    `out` stands for results/reference (never the real one, whose state changes as the boards
    are made)."""
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls"}\n')
    fake.chmod(0o755)
    import subprocess

    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(fake), "HOME": str(tmp_path)}
    done = subprocess.run(["bash", str(ROOT / "scripts/reference/sitting.sh"), *args],
                          env=env | {"REFERENCE_OUT": str(out)},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
    return [call.split() for call in calls]


def value(call, flag):
    return call[call.index(flag) + 1] if flag in call else None


def test_a_sitting_runs_each_submission_in_both_runs_then_the_external_board(tmp_path):
    from bench import registry

    out = tmp_path / "reference"
    (out / "interim/self").mkdir(parents=True)
    (out / "interim/self/records.tar.xz").write_bytes(b"")  # a committed archive of run A
    calls = sitting_calls(tmp_path, str(tmp_path / "root"), out=out)
    assert all(call[0] == "scripts/reference/run.py" for call in calls)
    self_calls, external = calls[:-1], calls[-1]
    run_a, run_b = self_calls[0::2], self_calls[1::2]
    assert sorted(value(call, "-s") for call in run_a) == registry.submission_names()
    assert [value(call, "-s") for call in run_a] == [value(call, "-s") for call in run_b]
    assert {value(call, "--results-dir") for call in run_a} == {str(tmp_path / "root/a")}
    assert {value(call, "--seed-offset") for call in run_a} == {None}
    assert {value(call, "--seed-offset") for call in run_b} == {"1000000"}
    assert value(external, "--ruleset") == "external" and value(external, "-s") is None
    for call in calls:  # nothing is scored until --save
        assert "--no-score" in call and "--interim" not in call
    assert {value(call, "--records-from") for call in run_a} == {
        str(out / "interim/self/records.tar.xz")}
    assert {value(call, "--records-from") for call in [*run_b, external]} == {None}


def test_saving_a_sitting_scores_the_boards_that_have_records(tmp_path):
    record = tmp_path / "root/b/self/nadamw/mnist1d/study_0/trial_0.json"
    record.parent.mkdir(parents=True)
    record.write_text("{}")
    (tmp_path / "root/a").mkdir()
    out = tmp_path / "reference"
    calls = sitting_calls(tmp_path, "--save", str(tmp_path / "root"), out=out)
    assert len(calls) == 1 and "--interim" in calls[0]
    assert value(calls[0], "--seed-offset") == "1000000"
    assert value(calls[0], "--out") == str(out / "interim-b")


def test_the_final_sitting_goes_on_then_places_the_boards_and_their_figures(tmp_path):
    from bench import registry

    out = tmp_path / "reference"
    for old in ("interim/self", "interim/external", "interim-b/self", "self-b", "self"):
        (out / old).mkdir(parents=True)
    calls = sitting_calls(tmp_path, "--final", str(tmp_path / "root"), out=out)
    sitting, final = calls[:-6], calls[-6:]
    assert len(sitting) == 2 * len(registry.submission_names()) + 1
    assert all("--no-score" in call for call in sitting)
    self_a, self_b, stability, fidelity_self, external, fidelity_external = final
    assert [(value(call, "--ruleset"), value(call, "--seed-offset"), value(call, "--out"))
            for call in (self_a, self_b, external)] == [
        ("self", None, str(out)), ("self", "1000000", str(out / "second-run")),
        ("external", None, str(out))]
    assert not any("--interim" in call or "--no-score" in call
                   for call in (self_a, self_b, external))
    assert stability[:3] == ["benchmarks/ranking_stability.py", str(out / "self/leaderboard.json"),
                             str(out / "second-run/self/leaderboard.json")]
    assert [call[1] for call in (fidelity_self, fidelity_external)] == [
        str(out / "self/leaderboard.json"), str(out / "external/leaderboard.json")]
    assert sorted(path.name for path in out.iterdir()) == ["self"]  # the interim boards go


def place_self_tuning_boards(out):
    """What `sitting.sh --final-self` leaves: the two self-tuning boards in their final places,
    the external board still interim."""
    for board in ("self", "second-run/self", "interim/external"):
        (out / board).mkdir(parents=True)
        (out / board / "leaderboard.json").write_text("{}")


def test_placing_the_self_tuning_boards_leaves_the_external_one_in_progress(tmp_path):
    out = tmp_path / "reference"
    for old in ("interim/self", "interim/external", "interim-b/self", "self-b", "self"):
        (out / old).mkdir(parents=True)
    (out / "interim/self/records.tar.xz").write_bytes(b"")
    calls = sitting_calls(tmp_path, "--final-self", str(tmp_path / "root"), out=out)
    self_a, self_b, stability, fidelity = calls  # no trial of its own, no external board
    assert [(value(call, "--seed-offset"), value(call, "--out")) for call in (self_a, self_b)] \
        == [(None, str(out)), ("1000000", str(out / "second-run"))]
    assert value(self_a, "--records-from") == str(out / "interim/self/records.tar.xz")
    assert not any("--interim" in call or "--no-score" in call for call in (self_a, self_b))
    assert stability[0] == "benchmarks/ranking_stability.py"
    assert value(stability, "--out") == str(out / "stability.json")
    assert value(fidelity, "--out") == str(out / "fidelity_self.md")
    assert sorted(str(path.relative_to(out)) for path in out.rglob("*")) \
        == ["interim", "interim/external", "self"]  # (the stand-in python wrote no board)


def test_once_the_self_tuning_boards_are_placed_sittings_go_on_with_the_external_board(tmp_path):
    out = tmp_path / "reference"
    place_self_tuning_boards(out)
    for sub in ("a/self/nadamw/mnist1d/study_0", "b/self/nadamw/mnist1d/study_0",
                "ext/external/nadamw/mnist1d/study_0"):
        (tmp_path / "root" / sub).mkdir(parents=True)
        (tmp_path / "root" / sub / "trial_0.json").write_text("{}")
    [sitting] = sitting_calls(tmp_path, str(tmp_path / "root"), out=out)
    assert value(sitting, "--ruleset") == "external"
    (tmp_path / "calls").unlink()
    [save] = sitting_calls(tmp_path, "--save", str(tmp_path / "root"), out=out)
    assert value(save, "--ruleset") == "external" and "--interim" in save
    (tmp_path / "calls").unlink()
    assert sitting_calls(tmp_path, "--final-self", str(tmp_path / "root"), out=out) == []
    final = sitting_calls(tmp_path, "--final", str(tmp_path / "root"), out=out)
    assert [value(call, "--ruleset") for call in final[:2]] == ["external", "external"]
    assert "--no-score" in final[0] and "--no-score" not in final[1]
    assert final[2][0] == "scripts/reference/fidelity.py" and len(final) == 3
