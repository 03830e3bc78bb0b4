"""Rules versions as data: the numbers against AlgoPerf's repositories, applying them, not mixing."""

import dataclasses

import pytest
from click.testing import CliRunner

from bench import api, registry, rules, scoring
from bench.cli import main
from bench.protocol import ProtocolSettings
from bench.trial.record import TrialId, write_record
from bench.submission import load_submission
from tests.conftest import TINY, TinyRegression
from tests.test_scoring import record
from tests.test_trial_record import complete_record

# AlgoPerf's names (algorithmic-efficiency algoperf/workloads/workloads.py, v0.5.0 and main)
BASES = ["criteo1tb", "fastmri", "imagenet_resnet", "imagenet_vit", "librispeech_conformer",
         "librispeech_deepspeech", "ogbg", "wmt"]
VARIANTS = {
    "criteo1tb": ["criteo1tb_embed_init", "criteo1tb_layernorm", "criteo1tb_resnet"],
    "fastmri": ["fastmri_layernorm", "fastmri_model_size", "fastmri_tanh"],
    "imagenet_resnet": ["imagenet_resnet_gelu", "imagenet_resnet_large_bn_init",
                        "imagenet_resnet_silu"],
    "imagenet_vit": ["imagenet_vit_glu", "imagenet_vit_map", "imagenet_vit_post_ln"],
    "librispeech_conformer": ["librispeech_conformer_attention_temperature",
                              "librispeech_conformer_gelu", "librispeech_conformer_layernorm"],
    "librispeech_deepspeech": ["librispeech_deepspeech_no_resnet",
                               "librispeech_deepspeech_norm_and_spec_aug",
                               "librispeech_deepspeech_tanh"],
    "ogbg": ["ogbg_gelu", "ogbg_model_size", "ogbg_silu"],
    "wmt": ["wmt_attention_temp", "wmt_glu_tanh", "wmt_post_ln"],
}


def test_shipped_versions():
    assert rules.versions() == ["algoperf-v0.5", "algoperf-v0.6", "cpu-v1", "cpu-v2", "cpu-v3"]
    with pytest.raises(rules.RulesError, match="unknown rules version 'v9'"):
        rules.load("v9")


@pytest.mark.parametrize("version", ["algoperf-v0.5", "algoperf-v0.6"])
def test_algoperf_versions_hold_every_base_and_variant(version):
    loaded = rules.load(version)
    assert loaded.base_workloads == BASES
    for base, variants in VARIANTS.items():
        found = sorted(n for n, w in loaded.workloads.items() if w.variant_of == base)
        assert found == variants


def test_v05_numbers():
    """algorithmic-efficiency v0.5.0 workloads, cf436b09's WMT variants, v0.5.0 DOCUMENTATION.md."""
    v05 = rules.load("algoperf-v0.5")
    ogbg = v05.workload("ogbg")
    assert (ogbg.step_hint, ogbg.max_runtime, ogbg.validation_target) == (80_000, 18_477, 0.28098)
    assert v05.workload("imagenet_resnet").max_runtime * v05.tuning["self"].budget_factor == 189_024
    assert v05.workload("wmt_glu_tanh").validation_target == 29.5779
    assert v05.workload("librispeech_deepspeech").step_hint == 48_000
    assert v05.workload("criteo1tb").higher_is_better is False
    assert (v05.tuning["external"].studies, v05.tuning["external"].trials) == (5, 5)
    assert (v05.tuning["self"].studies, v05.tuning["self"].trials) == (5, 1)
    # scoring/algoperf_v05/held_out_workloads_algoperf_v05.json
    assert sorted(v05.scoring.held_out_variants) == [
        "criteo1tb_embed_init", "fastmri_tanh", "imagenet_resnet_large_bn_init",
        "librispeech_conformer_layernorm", "ogbg_model_size", "wmt_glu_tanh"]
    assert v05.timing.compile_counts and not v05.timing.init_optimizer_counts
    assert v05.timing.eval_past_budget_counts


def test_v06_numbers():
    """algorithmic-efficiency main (2c90454f) workloads, docs/DOCUMENTATION.md and CHANGELOG 0.6.0."""
    v06 = rules.load("algoperf-v0.6")
    ogbg = v06.workload("ogbg")
    assert (ogbg.step_hint, ogbg.max_runtime) == (52_000, 12_011)
    self_budget = v06.workload("imagenet_resnet").max_runtime * v06.tuning["self"].budget_factor
    assert round(self_budget) == 99_238  # 1.5 x 66,159 = 99,238.5
    assert v06.tuning["external"].studies == v06.tuning["self"].studies == 3
    assert v06.scoring.held_out_variants == ()
    assert not v06.timing.eval_past_budget_counts


def test_apply_sets_step_hint_budget_and_targets_and_leaves_the_module_alone():
    workload = registry.get_workload("ogbg")
    module_spec = workload.spec
    under_v05 = rules.with_rules(workload, "algoperf-v0.5")
    assert (under_v05.spec.step_hint, under_v05.spec.max_runtime) == (80_000, 18_477.0)
    assert under_v05.spec.test_target == 0.268729
    assert workload.spec == module_spec and under_v05 is not workload
    assert rules.with_rules(workload, "cpu-v1") is workload


def test_a_workload_outside_the_rules_is_refused():
    spec = registry.get_workload("mnist1d").spec
    with pytest.raises(rules.RulesError, match="'mnist1d' is not part of rules algoperf-v0.6"):
        rules.apply(rules.load("algoperf-v0.6"), spec)
    assert rules.apply(rules.load("cpu-v2"), spec) == spec
    wrong = dataclasses.replace(registry.get_workload("ogbg").spec, target_metric="loss")
    with pytest.raises(rules.RulesError, match="measures loss"):
        rules.apply(rules.load("algoperf-v0.6"), wrong)


def test_records_of_several_versions_are_not_scored_together(tmp_path):
    ogbg_hit = [{"step": 120, "submission_time": 12.0, "validation/mean_average_precision": 0.3}]
    records = [record("A", "w", 0, 10.0),
               {**record("B", "ogbg", 0, 12.0), "rules": "algoperf-v0.6", "evals": ogbg_hit}]
    with pytest.raises(scoring.ScoringError, match="several rules versions .*choose one with --rules"):
        scoring.score(records, bootstrap_samples=0)
    board = scoring.score(records, rules="algoperf-v0.6", bootstrap_samples=0)
    assert board.rules == "algoperf-v0.6" and board.submissions == ["B"]
    assert board.workloads == BASES and board.scores["B"] == pytest.approx(1 / 8)
    for index, rec in enumerate(records):
        write_record(TrialId("external", rec["submission"], rec["workload"], 0, index)
                     .path(tmp_path), complete_record(rec))
    result = CliRunner().invoke(main, ["score", str(tmp_path), "--bootstrap", "0", "--allow-stale"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "several rules versions" in result.output


def test_the_version_is_read_from_the_protocol_when_the_field_is_missing():
    old = {"protocol": {"rules": "algoperf-v0.5"}}
    assert scoring.record_rules(old) == "algoperf-v0.5"
    assert scoring.record_rules({}) == "cpu-v1"


def test_a_trial_records_its_rules_version(tmp_path, sgd_path):
    settings = ProtocolSettings(max_steps=2, eval_period=1e6)
    outcome = api.run(TinyRegression(), load_submission(sgd_path), results_dir=tmp_path,
                      settings=settings)
    assert outcome.record["rules"] == "cpu-v2" == scoring.record_rules(outcome.record)
    with pytest.raises(rules.RulesError, match="'tiny' is not part of rules algoperf-v0.5"):
        api.run(TinyRegression(), load_submission(sgd_path), results_dir=tmp_path / "other",
                settings=dataclasses.replace(settings, rules="algoperf-v0.5"))


def test_a_trial_without_named_rules_runs_under_its_tiers_default():
    assert rules.default_version("cpu") == "cpu-v3"  # the reference clock: every cpu workload
    assert rules.default_version("full") == rules.default_version("smoke") == "cpu-v2"
    assert rules.default_version("cpu", "cpu") == "cpu-v3"
    with pytest.raises(rules.RulesError, match="name one with --rules"):
        rules.default_version("cpu", "smoke")
    with pytest.raises(rules.RulesError, match="no default rules"):
        rules.default_version("laptop")
    cpu, smoke = registry.get_workload("mnist1d").spec, TinyRegression().spec
    assert ProtocolSettings().resolve(cpu).rules == "cpu-v3"
    assert ProtocolSettings().resolve(smoke).rules == "cpu-v2"
    assert ProtocolSettings(rules="cpu-v1").resolve(cpu).rules == "cpu-v1"
    assert ProtocolSettings().for_tier("full").rules == "cpu-v2"
    assert rules.defaults_in_words() == "cpu-v3 on the cpu tier, cpu-v2 on the full and smoke tiers"


def test_a_study_over_tiers_of_different_default_rules_must_name_them(tmp_path):
    result = CliRunner().invoke(main, ["study", "-s", "nadamw", "-w", "mnist1d", "-w", "digits",
                                       "--results-dir", str(tmp_path)])
    assert result.exit_code == 2 and "name one with --rules" in result.output
    assert not any(tmp_path.iterdir())  # refused before any trial


def test_a_cpu_workload_without_a_reference_point_says_how_to_get_one():
    from bench import speed

    with pytest.raises(speed.NoReferenceError, match="bench set-targets -w tiny.*--rules cpu-v2"):
        speed.reference_for("tiny")


def test_a_trial_recorded_under_other_rules_is_a_conflict_not_a_skip(tmp_path, sgd_path):
    from bench.trial.execute import TrialConflictError

    settings = ProtocolSettings(max_steps=2, eval_period=1e6)  # the smoke tier's cpu-v2
    first = api.run(TinyRegression(), load_submission(sgd_path), results_dir=tmp_path,
                    settings=settings)
    again = api.run(TinyRegression(), load_submission(sgd_path), results_dir=tmp_path,
                    settings=dataclasses.replace(settings, rules="cpu-v2"))
    assert again.skipped and again.record == first.record
    other = dataclasses.replace(settings, rules="cpu-v1")
    with pytest.raises(TrialConflictError, match="run under rules cpu-v2, not cpu-v1"):
        api.run(TinyRegression(), load_submission(sgd_path), results_dir=tmp_path,
                settings=other)
    with pytest.raises(TrialConflictError, match="not cpu-v1"):  # refused before any process
        api.run_in_own_process(TINY, load_submission(sgd_path), results_dir=tmp_path,
                               settings=other)
    forced = api.run(TinyRegression(), load_submission(sgd_path), results_dir=tmp_path,
                     settings=other, force=True)
    assert not forced.skipped and forced.record["rules"] == "cpu-v1"


def test_cli_run_refuses_a_workload_outside_the_rules():
    result = CliRunner().invoke(main, ["run", "-w", "mnist1d", "-s", "nadamw",
                                       "--rules", "algoperf-v0.5"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "'mnist1d' is not part of rules algoperf-v0.5" in result.output


def test_cpu_v1_keeps_its_own_cpu_targets_and_takes_other_workloads_as_defined():
    cpu_v1 = rules.load("cpu-v1")
    moved = dataclasses.replace(registry.get_workload("mnist1d").spec, validation_target=0.5,
                                step_hint=123, max_runtime=7.0)
    frozen = rules.apply(cpu_v1, moved)  # a later change of the module does not move cpu-v1
    assert (frozen.validation_target, frozen.step_hint, frozen.max_runtime) == (0.945, 3000, 40.0)
    tiny = TinyRegression().spec  # not in its table: as the module defines it
    assert rules.apply(cpu_v1, tiny) == tiny
    with pytest.raises(rules.RulesError):  # AlgoPerf's versions still refuse such a workload
        rules.apply(rules.load("algoperf-v0.5"), tiny)
    assert rules.load("cpu-v2").evaluation.every_steps(3000) == 30
    assert cpu_v1.evaluation.every_steps(3000) is None
