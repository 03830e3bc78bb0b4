"""Specs of fake-data copies (`Workload.fake`): same name, targets and rules, synthetic data.

A fake copy keeps everything a result is judged by (name, targets, step hint, budget, variant)
and says in its spec that its data is synthetic and, at model size "tiny", that its model and
batch are shrunk. Its `fake_of` attribute, (original workload, model size), lets another process
rebuild it by reference.
"""

from __future__ import annotations

import dataclasses

from bench.workload import MODEL_SIZES, Workload, WorkloadSpec


def check_model_size(model_size: str) -> str:
    if model_size not in MODEL_SIZES:
        raise ValueError(f"model size must be one of {', '.join(MODEL_SIZES)}, not {model_size!r}")
    return model_size


def fake_spec(spec: WorkloadSpec, model_size: str, tiny_batch_size: int) -> WorkloadSpec:
    changes = {"dataset": f"synthetic data of the shapes of {spec.dataset}"}
    if check_model_size(model_size) == "tiny":
        changes.update(model=f"tiny {spec.model}", batch_size=tiny_batch_size)
    return dataclasses.replace(spec, **changes)


def mark_fake(copy: Workload, original: Workload, model_size: str) -> Workload:
    copy.fake_of = (original, model_size)
    return copy
