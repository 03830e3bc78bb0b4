"""Studies: which trials they hold, and running only the missing ones."""

import json

import pytest

from bench import tuning
from bench.protocol import ProtocolSettings
from bench.search_space import SearchSpaceError
from bench.submission import load_submission
from tests.conftest import TinyRegression, write_submission

SGD_WITH_SPACE = '''
"""SGD with a tuned learning rate."""
import optax
DEFAULT_HPARAMS = {"learning_rate": 0.1, "momentum": 0.0}
def make_optimizer(hparams, workload_info):
    return optax.sgd(hparams["learning_rate"], hparams["momentum"] or None)
'''


@pytest.fixture
def tuned(tmp_path):
    path = write_submission(tmp_path, SGD_WITH_SPACE, name="tuned")
    (path.parent / "search_space.json").write_text(json.dumps({
        "learning_rate": {"min": 0.01, "max": 0.2, "scaling": "log"},
        "momentum": {"feasible_points": [0.0, 0.5]},
    }))
    return load_submission(path)


def test_external_plan(tuned):
    workloads = [TinyRegression(), TinyRegression(name="tiny2")]
    plan = tuning.plan_study(tuned, workloads, "external", studies=2, trials=3)
    assert len(plan) == 2 * 2 * 3
    seeds = {p.seed for p in plan}
    assert len(seeds) == 6  # one per (study, trial), shared across workloads
    study0 = [p.hparams for p in plan if p.study == 0 and p.workload.name == "tiny"]
    study0_other = [p.hparams for p in plan if p.study == 0 and p.workload.name == "tiny2"]
    study1 = [p.hparams for p in plan if p.study == 1 and p.workload.name == "tiny"]
    assert study0 == study0_other and study0 != study1
    assert all(0.01 <= h["learning_rate"] <= 0.2 for h in study0)
    assert plan == tuning.plan_study(tuned, workloads, "external", studies=2, trials=3)


def test_self_plan_is_the_default_point(tuned):
    plan = tuning.plan_study(tuned, [TinyRegression()], "self", studies=3, trials=5)
    assert len(plan) == 3
    assert all(p.hparams == {"learning_rate": 0.1, "momentum": 0.0} for p in plan)


def test_external_needs_a_valid_search_space(tmp_path, tuned):
    path = write_submission(tmp_path, SGD_WITH_SPACE, name="nospace")
    with pytest.raises(SearchSpaceError, match="no search_space.json"):
        tuning.plan_study(load_submission(path), [TinyRegression()], "external", 1, 1)
    (tuned.path.parent / "search_space.json").write_text('{"lr": {"min": 0.1, "max": 1}}')
    with pytest.raises(SearchSpaceError, match="lr are not hyperparameters"):
        tuning.plan_study(tuned, [TinyRegression()], "external", 1, 1)


def test_run_study_runs_missing_trials_only(tmp_path, tuned):
    workload = TinyRegression(target=0.05, max_runtime=5.0)
    settings = ProtocolSettings(max_steps=200, eval_period=1e-9, evaluate_test=False)
    events = []
    first = tuning.run_study(
        tuned, [workload], ruleset="external", studies=2, trials=2,
        results_dir=str(tmp_path / "r"), settings=settings,
        on_trial=lambda i, n, planned, outcome: events.append((i, n, outcome is None)),
    )
    assert len(first) == 4 and not any(o.skipped for o in first)
    assert events[:2] == [(0, 4, True), (0, 4, False)]
    records = sorted((tmp_path / "r" / "external" / "tuned" / "tiny").rglob("trial_*.json"))
    assert len(records) == 4
    # interrupted study: one record lost; the re-run only redoes that one
    records[-1].unlink()
    second = tuning.run_study(tuned, [workload], ruleset="external", studies=2, trials=2,
                              results_dir=str(tmp_path / "r"), settings=settings)
    assert [o.skipped for o in second] == [True, True, True, False]


def test_self_ruleset_applies_the_budget_multiplier(tmp_path, tuned):
    workload = TinyRegression(target=-1.0, max_runtime=0.01)
    outcomes = tuning.run_study(
        tuned, [workload], ruleset="self", studies=1, results_dir=str(tmp_path),
        settings=ProtocolSettings(max_steps=3, eval_period=1e6),
    )
    assert outcomes[0].record["protocol"]["max_runtime"] == pytest.approx(0.03)


def test_seed_offset_gives_an_independent_run(tuned):
    """Seeds: seed_offset + 1000 * study + trial; external draws: seeded seed_offset + study."""
    workloads = [TinyRegression()]
    first = tuning.plan_study(tuned, workloads, "external", studies=2, trials=3)
    second = tuning.plan_study(tuned, workloads, "external", studies=2, trials=3,
                               seed_offset=tuning.RUN_SEED_STRIDE)
    assert [p.seed for p in first] == [0, 1, 2, 1000, 1001, 1002]
    assert [p.seed for p in second] == [1_000_000, 1_000_001, 1_000_002,
                                        1_001_000, 1_001_001, 1_001_002]
    assert [(p.study, p.trial) for p in first] == [(p.study, p.trial) for p in second]
    assert [p.hparams for p in first] != [p.hparams for p in second]
    # the draws of a study under offset k are those of study k + s under offset 0
    shifted = tuning.study_points(tuned, "external", study=0, trials=3, seed_offset=1)
    assert shifted == [p.hparams for p in first if p.study == 1]
    selfish = tuning.plan_study(tuned, workloads, "self", studies=3, seed_offset=2_000_000)
    assert [p.seed for p in selfish] == [2_000_000, 2_001_000, 2_002_000]
    with pytest.raises(ValueError, match="seed_offset must not be negative"):
        tuning.plan_study(tuned, workloads, "self", studies=1, seed_offset=-1)


def test_seed_offset_reaches_the_records_and_a_mixed_rerun_is_refused(tmp_path, tuned):
    from bench.trial.execute import TrialConflictError

    workload = TinyRegression(target=0.05, max_runtime=5.0)
    settings = ProtocolSettings(max_steps=20, eval_period=1e-9, evaluate_test=False)
    run = dict(ruleset="self", studies=2, results_dir=str(tmp_path / "r"), settings=settings)
    outcomes = tuning.run_study(tuned, [workload], seed_offset=3_000_000, **run)
    assert [o.record.seed for o in outcomes] == [3_000_000, 3_001_000]
    with pytest.raises(TrialConflictError, match="other hyperparameters or seed"):
        tuning.run_study(tuned, [workload], **run)  # offset 0 into the same directory


def test_study_command_takes_a_seed_offset(tmp_path):
    from click.testing import CliRunner

    from bench.cli import main

    args = ["study", "-s", "nadamw", "-w", "tests.conftest:TINY", "--ruleset", "self",
            "--studies", "2", "--max-steps", "5", "--in-process", "--seed-offset", "1000000",
            "--results-dir", str(tmp_path)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    seeds = [json.loads(p.read_text())["seed"]
             for p in sorted((tmp_path / "self" / "nadamw" / "tiny").rglob("trial_0.json"))]
    assert seeds == [1_000_000, 1_001_000]
    negative = CliRunner().invoke(main, args[:-4] + ["--seed-offset", "-1"])
    assert negative.exit_code == 2 and "-1 is not in the range x>=0" in negative.output
