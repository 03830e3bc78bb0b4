"""bench: a time-to-result benchmark harness for neural-network training algorithms.

The Python API mirrors the command line: `bench.run` runs and records one trial; the contracts
live in `bench.workload` (Workload), `bench.submission` (Submission) and `bench.protocol`.

The names below are imported on first use, so `import bench.scoring` (or any other light
module) does not load JAX and the training loop.
"""

import importlib

_EXPORTS = {
    "Outcome": "bench.protocol",
    "ProtocolSettings": "bench.protocol",
    "RunOutcome": "bench.api",
    "run": "bench.api",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
