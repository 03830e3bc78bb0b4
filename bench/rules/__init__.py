"""Rules versions: the budgets, step hints, targets, tuning and scoring rules of one benchmark
version, as data.

Each version is one TOML file in this package (`algoperf-v0.5.toml`, `algoperf-v0.6.toml`,
`cpu-v1.toml`) that cites where its numbers come from. `load(version)` reads one into plain frozen
dataclasses:

- `Rules.workloads`: per workload its target metric and direction, validation and test targets,
  step hint and max runtime (seconds of submission time), and the base it is a variant of;
- `Rules.tuning`: per tuning ruleset (`external`, `self`) the studies, trials per study and the
  factor applied to every max runtime;
- `Rules.scoring`: how studies, variants and tau_max are scored (see `ScoringRules`);
- `Rules.timing`: whether compilation, optimizer initialisation and an evaluation past the budget
  count, and what the clock counts in: this machine's seconds, or (cpu-v3) the seconds of the
  machine that set the budget, through the workload's reference point (`bench.speed`);
- `Rules.evaluation`: when to evaluate: every `eval_period` seconds of submission time (AlgoPerf),
  or every fixed fraction of the step hint (the cpu tier since cpu-v2).

`apply(rules, spec)` gives a `WorkloadSpec` the version's step hint, budget and targets, so that
workload modules never import the rules. A version without a workload table (`cpu-v2`,
`cpu-v3`) leaves the spec as its module defines it; one with `unlisted_workloads = "as_defined"`
(`cpu-v1`, frozen at its last values) does so for the workloads its table does not list.

A trial that names no version runs under its tier's default, `default_version(tier)`: cpu-v3 on
the cpu tier, cpu-v2 elsewhere.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

# The rules a trial runs under when none is named, by its workload's tier (`default_version`):
# the cpu tier's current version, cpu-v3, whose clock counts reference seconds, so a cpu-tier
# workload needs a reference point (workloads/targets/<workload>.json, made by `bench
# set-targets`); cpu-v2 for the full and smoke tiers, whose workloads keep their modules' step
# hints, budgets and targets and are timed in this machine's seconds.
DEFAULT_BY_TIER = MappingProxyType({"cpu": "cpu-v3", "full": "cpu-v2", "smoke": "cpu-v2"})
# For runs that count steps, not seconds (`bench check`, learning-rate sensitivity, the loop's
# benchmarks): the cpu tier's rules on this machine's clock, with no reference point beside.
MACHINE_CLOCK_VERSION = "cpu-v2"
TRIAL_CHOICES = ("fewest_evaluations", "fastest")
TAU_MAX_CUTS = ("before_variants", "on_ratios")
VARIANT_RULES = ("within_tau_max", "hit")


class RulesError(ValueError):
    """An unknown rules version, or a workload the version does not define."""


@dataclasses.dataclass(frozen=True)
class WorkloadRules:
    name: str
    target_metric: str
    higher_is_better: bool
    validation_target: float
    test_target: float | None
    step_hint: int
    max_runtime: float
    variant_of: str | None = None


@dataclasses.dataclass(frozen=True)
class TuningRules:
    studies: int
    trials: int
    budget_factor: float  # every max runtime is multiplied by this


@dataclasses.dataclass(frozen=True)
class ScoringRules:
    """How a leaderboard is computed (AlgoPerf's rules and the alternatives bench used before).

    trial_choice: "fewest_evaluations" keeps, per study, the trial that reached the target at the
      fewest evaluations and scores it by its time there (ties: the faster); "fastest" keeps the
      trial with the smallest time to target.
    tau_max_cut: "before_variants" sets a time over tau_max x the fastest time on its workload
      (bases and held-out variants alike) to infinity before the variant rule; "on_ratios" sets
      ratios over tau_max to infinity after it.
    variant_rule: "within_tau_max" counts a held-out variant as missed when its time is over
      tau_max x the fastest time on it among the submissions that reached its base (or when
      missed), and the base as missed with it; "hit" only passes a missed variant on to its base.
    held_out_variants: the variants that count; None means every variant found in the records.
    """

    tau_max: float
    num_taus: int
    trial_choice: str
    tau_max_cut: str
    variant_rule: str
    held_out_variants: tuple[str, ...] | None


@dataclasses.dataclass(frozen=True)
class TimingRules:
    compile_counts: bool  # JIT compilation is submission time
    init_optimizer_counts: bool  # optimizer initialisation is submission time
    eval_past_budget_counts: bool  # a target met at an evaluation after the budget is a hit
    # "machine": submission time in this machine's seconds; "reference": in seconds of the machine
    # that set the workload's budget, through the speed of its reference point (`bench.speed`).
    clock: str = "machine"


TEST_SPLIT_CHOICES = ("every", "last")


@dataclasses.dataclass(frozen=True)
class EvaluationRules:
    """When a trial evaluates. `step_hint_fraction` None: every `eval_period` seconds of
    submission time (the workload's); otherwise every max(1, round(fraction x step hint)) steps,
    so the steps evaluated, hence steps to target, are the same on every machine.

    `test_split`: "every" evaluates the test split with the validation split each time
    (AlgoPerf); "last" only at the evaluation that ends the trial (the one meeting the target,
    or the last of the budget). Scores read the validation split only, so this changes no
    score, only the evaluation time spent."""

    step_hint_fraction: float | None = None
    test_split: str = "every"

    def every_steps(self, step_hint: int) -> int | None:
        if self.step_hint_fraction is None:
            return None
        return max(1, round(self.step_hint_fraction * step_hint))


@dataclasses.dataclass(frozen=True)
class Rules:
    version: str
    title: str
    tier: str
    workloads: Mapping[str, WorkloadRules]
    tuning: Mapping[str, TuningRules]
    scoring: ScoringRules
    timing: TimingRules
    evaluation: EvaluationRules = EvaluationRules()
    unlisted_as_defined: bool = False  # a workload not in the table keeps its module's spec

    @property
    def base_workloads(self) -> list[str]:
        """The workloads in the performance profile, in the order of the file (none: from data)."""
        return [name for name, w in self.workloads.items() if w.variant_of is None]

    def workload(self, name: str) -> WorkloadRules:
        if name not in self.workloads:
            raise RulesError(
                f"workload {name!r} is not part of rules {self.version} "
                f"(it defines {', '.join(self.workloads) or 'no workloads'})"
            )
        return self.workloads[name]


def versions() -> list[str]:
    """The rules versions shipped with bench."""
    files = resources.files(__package__).iterdir()
    return sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml"))


def default_version(*tiers: str) -> str:
    """The rules version that trials on workloads of `tiers` run under when none is named.
    Tiers whose defaults differ (one study over cpu and full workloads) must name one."""
    unknown = [tier for tier in tiers if tier not in DEFAULT_BY_TIER]
    if unknown or not tiers:
        raise RulesError(f"no default rules for tier {unknown or tiers!r} "
                         f"(tiers: {', '.join(DEFAULT_BY_TIER)})")
    by_tier = {tier: DEFAULT_BY_TIER[tier] for tier in sorted(set(tiers))}
    if len(set(by_tier.values())) > 1:
        defaults = ", ".join(f"{tier}: {version}" for tier, version in by_tier.items())
        raise RulesError(f"the workloads' tiers run under different default rules ({defaults}); "
                         "name one with --rules")
    return by_tier[tiers[0]]


def defaults_in_words() -> str:
    """`DEFAULT_BY_TIER` for a help text: "cpu-v3 on the cpu tier, cpu-v2 on the full and smoke
    tiers"."""
    by_version: dict[str, list[str]] = {}
    for tier, version in DEFAULT_BY_TIER.items():
        by_version.setdefault(version, []).append(tier)
    return ", ".join(f"{version} on the {' and '.join(tiers)} tier{'s' * (len(tiers) > 1)}"
                     for version, tiers in by_version.items())


def load(version: str) -> Rules:
    """The rules of `version` (one of `versions()`)."""
    if version not in versions():
        raise RulesError(f"unknown rules version {version!r}; choose one of {', '.join(versions())}")
    data = tomllib.loads(resources.files(__package__).joinpath(f"{version}.toml").read_text())
    return from_dict(data)


def from_dict(data: dict) -> Rules:
    """Rules from the parsed contents of a rules file (checked field by field)."""
    scoring = dict(data["scoring"])
    held_out = scoring["held_out_variants"]
    scoring["held_out_variants"] = None if held_out == "all" else tuple(held_out)
    for field, allowed in (("trial_choice", TRIAL_CHOICES), ("tau_max_cut", TAU_MAX_CUTS),
                           ("variant_rule", VARIANT_RULES)):
        if scoring[field] not in allowed:
            raise RulesError(f"rules {data['version']}: {field} must be one of {allowed}")
    workloads = {name: WorkloadRules(name=name, **{"test_target": None, **fields})
                 for name, fields in data.get("workloads", {}).items()}
    unlisted = data.get("unlisted_workloads", "refused")
    if unlisted not in ("refused", "as_defined"):
        raise RulesError(f"rules {data['version']}: unlisted_workloads must be refused or as_defined")
    for name in scoring["held_out_variants"] or ():
        if workloads.get(name) is None or workloads[name].variant_of is None:
            raise RulesError(f"rules {data['version']}: held-out {name!r} is not a variant")
    return Rules(
        version=data["version"],
        title=data["title"],
        tier=data["tier"],
        workloads=MappingProxyType(workloads),
        tuning=MappingProxyType({k: TuningRules(**v) for k, v in data["tuning"].items()}),
        scoring=ScoringRules(**scoring),
        timing=timing_rules(data),
        evaluation=evaluation_rules(data),
        unlisted_as_defined=unlisted == "as_defined",
    )


CLOCK_CHOICES = ("machine", "reference")


def timing_rules(data: dict) -> TimingRules:
    """The [timing] table, checked."""
    timing = TimingRules(**data["timing"])
    if timing.clock not in CLOCK_CHOICES:
        raise RulesError(f"rules {data['version']}: timing.clock must be one of "
                         f"{', '.join(CLOCK_CHOICES)}, not {timing.clock!r}")
    return timing


def evaluation_rules(data: dict) -> EvaluationRules:
    """The [evaluation] table (absent: by time), checked."""
    evaluation = EvaluationRules(**data.get("evaluation", {}))
    fraction = evaluation.step_hint_fraction
    if fraction is not None and not 0 < fraction <= 1:
        raise RulesError(f"rules {data['version']}: evaluation.step_hint_fraction must be in (0, 1]")
    if evaluation.test_split not in TEST_SPLIT_CHOICES:
        raise RulesError(f"rules {data['version']}: evaluation.test_split must be one of "
                         f"{', '.join(TEST_SPLIT_CHOICES)}, not {evaluation.test_split!r}")
    return evaluation


def with_rules(workload, version: str):
    """`workload` under rules `version`: a shallow copy whose spec is `apply(rules, spec)`.

    The same object when the version leaves specs as they are (the original is never changed).
    """
    return workload.with_spec(apply(load(version), workload.spec))


def apply(rules: Rules, spec):
    """`spec` (a WorkloadSpec) with the step hint, max runtime and targets of `rules`.

    Rules without a workload table leave the spec unchanged; otherwise a workload the rules do
    not define raises RulesError, as does a target on another metric than the workload's.
    """
    if not rules.workloads or (rules.unlisted_as_defined and spec.name not in rules.workloads):
        return spec
    defined = rules.workload(spec.name)
    if defined.target_metric != spec.target_metric:
        raise RulesError(
            f"workload {spec.name} measures {spec.target_metric}, but rules {rules.version} set "
            f"a target on {defined.target_metric}"
        )
    return dataclasses.replace(
        spec,
        step_hint=defined.step_hint,
        max_runtime=float(defined.max_runtime),
        validation_target=defined.validation_target,
        test_target=defined.test_target,
        variant_of=defined.variant_of,
    )
