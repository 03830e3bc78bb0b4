"""Target-setting reports of the cpu workloads, written by `bench set-targets` (bench.targets).

Each `<workload>.json` holds the whole procedure's output: the baseline configurations tried and
their best validation metric, the chosen one, each seed's evaluation curve, the validation target
(the median of the seeds' best metric), the step hint and the budget, with the command and the
machine that measured it. A workload module takes its target, step hint and budget from here
(`spec_fields`), so the numbers live in one place, beside the evidence for them.
"""

from __future__ import annotations

import json
from pathlib import Path

DIRECTORY = Path(__file__).parent


def report_path(workload: str) -> Path:
    return DIRECTORY / f"{workload}.json"


def read_report(workload: str) -> dict:
    """The report of `workload` as plain data; FileNotFoundError names the command to run."""
    path = report_path(workload)
    if not path.exists():
        raise FileNotFoundError(f"no targets for {workload}: run `bench set-targets -w {workload}` "
                                f"(writes {path})")
    return json.loads(path.read_text())


def spec_fields(workload: str) -> dict:
    """The WorkloadSpec fields a cpu workload takes from its report."""
    report = read_report(workload)
    chosen = report["chosen"]
    return {
        "validation_target": report["validation_target"],
        "step_hint": report["step_hint"],
        "max_runtime": report["max_runtime"],
        "calibration": (
            f"{report['command']} (workloads/targets/{workload}.json): the target is the median "
            f"best {report['target_metric']} of {chosen['submission']} at "
            f"{json.dumps(chosen['hparams'])} over {len(report['seeds'])} seeds of "
            f"{report['step_hint']} steps"),
    }
