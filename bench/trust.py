"""Which trial records scoring can vouch for.

A record is a claim made by a trial process that ran contributed code, and it may have been
written long ago under other definitions. Before scoring, each record is compared with the
definitions of this checkout (see `vouch`):

- a record whose trial process found the harness tampered with (outcome `tampered`) is refused;
- a record of a workload defined here is *stale* when its schema version, its target (metric,
  value, direction) or its workload hash differ from the current ones: it was measured against
  something else. Stale records are refused unless the caller allows them; allowed ones are
  marked (`record["stale"]` holds the reasons) so reports can say so;
- a record whose claimed hit does not follow from its own evaluation curve under the current
  target test (no evaluation meets the target, time or steps to target not those of the first
  one that does, a hit at step 0) is refused: it was forged or altered;
- records imported from AlgoPerf's logs (`imported_from`) and records of workloads not defined
  here cannot be compared with anything and are passed through unchecked.

Vouching cannot tell a record a harness wrote from one forged with the same fields; that is what
`bench ci`'s own list of written records is for (`bench.ci`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

TAMPERED = "tampered"
TARGET_FIELDS = ("target_metric", "validation_target", "higher_is_better")


@dataclasses.dataclass(frozen=True)
class Refusal:
    record: Mapping
    reasons: tuple[str, ...]

    @property
    def label(self) -> str:
        r = self.record
        return (f"{r.get('ruleset')}/{r.get('submission')}/{r.get('workload')}/"
                f"study_{r.get('study')}/trial_{r.get('trial')}")

    def __str__(self) -> str:
        return f"{self.label}: {'; '.join(self.reasons)}"


@dataclasses.dataclass
class Vouched:
    accepted: list[dict]  # stale ones included only when allowed, each marked "stale"
    refused: list[Refusal]  # tampered, or stale and not allowed
    stale: list[Refusal]  # every stale record, allowed or not
    unchecked: list[str]  # workloads whose records could not be compared with a definition


def stale_reasons(record: Mapping, workload, current_hash: str, schema_version: int) -> list[str]:
    """How `record` differs from the current definition of its workload (empty: it does not)."""
    reasons = []
    if record.get("schema_version") != schema_version:
        reasons.append(f"schema version {record.get('schema_version')} (current {schema_version})")
    recorded = record.get("workload_spec") or {}
    spec = workload.spec.to_dict()
    for field in TARGET_FIELDS:
        if recorded.get(field) != spec[field]:
            reasons.append(f"{field} {recorded.get(field)!r} (current {spec[field]!r})")
    if record.get("workload_sha256") != current_hash:
        reasons.append("workload hash differs from the current definition")
    return reasons


def inconsistencies(record: Mapping, workload) -> list[str]:
    """How a claimed hit disagrees with the record's own evaluations (empty: it agrees)."""
    if record.get("outcome") != "hit":
        return []
    key = f"validation/{workload.spec.target_metric}"
    meeting = [row for row in record.get("evals") or []
               if isinstance(row, Mapping) and isinstance(row.get(key), (int, float))
               and workload.target_reached({workload.spec.target_metric: row[key]})]
    if not meeting:
        return ["claims a hit, but none of its evaluations meets the target"]
    first = meeting[0]
    if (record.get("time_to_target"), record.get("steps_to_target")) != (
            first.get("submission_time"), first.get("step")):
        return ["its time or steps to target are not those of its first evaluation meeting "
                "the target"]
    if not first.get("step"):
        return ["claims a hit at step 0, before any training"]
    return []


def under_record_rules(workload, record: Mapping):
    """`workload` with the targets and budgets of the rules version its record ran under (a
    record is judged by the definitions it was measured against); None stays None, and so does
    a workload that version does not define."""
    from bench import rules, scoring

    if workload is None:
        return None
    try:
        return rules.with_rules(workload, scoring.record_rules(record))
    except (rules.RulesError, KeyError):
        return None


def vouch(records: Iterable[dict], *, allow_stale: bool = False,
          workloads: Mapping | None = None) -> Vouched:
    """Split `records` into those scoring may use and those it must refuse, with reasons.

    `workloads` maps names to the current definitions (default: the registry's).
    """
    from bench import registry
    from bench.trial.hashes import workload_sha256
    from bench.trial.record import SCHEMA_VERSION

    workloads = registry.all_workloads() if workloads is None else workloads
    hashes: dict[str, str] = {}
    result = Vouched([], [], [], [])
    for record in records:
        if record.get("outcome") == TAMPERED:
            result.refused.append(Refusal(record, ("the trial found the harness tampered with: "
                                                   + str(record.get("message", ""))[:200],)))
            continue
        workload = under_record_rules(workloads.get(record.get("workload")), record)
        if record.get("imported_from") or workload is None:
            if workload is None and record.get("workload") not in result.unchecked:
                result.unchecked.append(str(record.get("workload")))
            result.accepted.append(record)
            continue
        if workload.name not in hashes:
            hashes[workload.name] = workload_sha256(workload)
        forged = inconsistencies(record, workload)
        if forged:
            result.refused.append(Refusal(record, tuple(forged)))
            continue
        reasons = stale_reasons(record, workload, hashes[workload.name],
                                SCHEMA_VERSION)
        if not reasons:
            result.accepted.append(record)
            continue
        refusal = Refusal(record, tuple(reasons))
        result.stale.append(refusal)
        if allow_stale:
            result.accepted.append({**record, "stale": list(reasons)})
        else:
            result.refused.append(refusal)
    return result
