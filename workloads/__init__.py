"""Workloads: each module here defines a module-level `WORKLOADS` list (see bench.workload)."""

from workloads._tfds import DatasetNotPreparedError

__all__ = ["DatasetNotPreparedError"]
