"""Workloads whose data `bench prepare` wrote under the data directory, read once per directory.

A `PreparedDataWorkload` reads its data with `read_prepared(data_dir)` on the first `load` (and
again only for another data directory); the result has `splits`, a mapping from split name
("train", "validation", "test") to that split's examples, which have a length. A fake copy is
built with its data in hand (`data=`), which `load` keeps. Subclasses give the model, the loss
and the batches, reading the examples of a split with `split_data(name)`.
"""

from __future__ import annotations

import abc
from typing import Any

from bench.workload import Workload, WorkloadSpec


class PreparedDataWorkload(Workload):
    """Data read by `read_prepared(data_dir)` on `load` (see the module docstring)."""

    def __init__(self, spec: WorkloadSpec, data: Any = None):
        self.spec = spec
        self._data = data
        self._fixed_data = data is not None  # fake data: `load` keeps it
        self._loaded_from: str | None = None

    @abc.abstractmethod
    def read_prepared(self, data_dir: str | None) -> Any:
        """The prepared data under `data_dir` (an object with `splits`); a one-line
        `DatasetNotPreparedError` naming `bench prepare` when it is missing."""

    def load(self, data_dir: str | None = None) -> None:
        if self._fixed_data or (self._data is not None and self._loaded_from == data_dir):
            return
        self._data = self.read_prepared(data_dir)
        self._loaded_from = data_dir

    @property
    def data(self) -> Any:
        """What `read_prepared` returned (or the fake copy's data)."""
        if self._data is None:
            raise RuntimeError(f"workload {self.name}: call load() first")
        return self._data

    def split_data(self, split: str) -> Any:
        """The examples of `split`."""
        return self.data.splits[split]

    @property
    def num_train_examples(self) -> int:
        return len(self.split_data("train"))
