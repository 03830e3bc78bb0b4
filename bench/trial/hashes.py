"""The hash of a workload's definition, recorded in every record (`workload_sha256`).

It covers the spec (as JSON) and the project source files that define the workload's data, model
and loss: the modules of its class and base classes, of the objects it holds (its Flax model, its
configuration), of the module that lists it in `WORKLOADS`, and every project module those import
(`bench.sources.project_files`). For MNIST that is `workloads/mnist.py` (the CNN) as well as
`workloads/_image_classification.py` (the loss) and `workloads/_pipeline.py` (the batches).
"""

from __future__ import annotations

import json
import sys

from bench.sources import PROJECT_PACKAGES, files_sha256, project_files


def workload_modules(workload) -> set[str]:
    """The project modules where the workload's class, its bases and its attributes are defined."""
    classes = list(type(workload).__mro__)
    classes += [type(value) for value in vars(workload).values()]
    names = {cls.__module__ for cls in classes}
    for name, module in list(sys.modules.items()):  # the module listing it in WORKLOADS
        if name.split(".")[0] == "workloads" and any(
                item is workload for item in getattr(module, "WORKLOADS", ())):
            names.add(name)
    return {name for name in names if name.split(".")[0] in PROJECT_PACKAGES}


def workload_sha256(workload) -> str:
    """A hash of the workload's definition: its spec and its project source files."""
    spec = json.dumps(workload.spec.to_dict(), sort_keys=True).encode()
    return files_sha256(project_files(workload_modules(workload)), prefix=spec)
