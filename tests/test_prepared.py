"""PreparedDataWorkload: data read once per data directory, a fake copy's data kept."""

import types

import pytest

from tests.conftest import TinyRegression
from workloads._prepared import PreparedDataWorkload


class Counting(PreparedDataWorkload):
    """Reads {"train": [data_dir] * 3, ...} and counts its reads."""

    reads = 0
    init = loss = train_batches = eval_batches = eval_sums = None

    def read_prepared(self, data_dir):
        self.reads += 1
        return types.SimpleNamespace(splits={"train": [data_dir] * 3, "validation": [data_dir]})


def test_load_reads_once_per_data_directory():
    workload = Counting(TinyRegression().spec)
    with pytest.raises(RuntimeError, match="call load"):
        workload.num_train_examples
    workload.load("a")
    workload.load("a")
    assert workload.reads == 1 and workload.split_data("validation") == ["a"]
    workload.load("b")
    assert workload.reads == 2 and workload.split_data("train") == ["b"] * 3
    assert workload.num_train_examples == 3


def test_data_given_at_construction_is_kept_by_load():
    fixed = types.SimpleNamespace(splits={"train": [0] * 5})
    workload = Counting(TinyRegression().spec, data=fixed)
    workload.load("somewhere")
    assert workload.reads == 0 and workload.data is fixed and workload.num_train_examples == 5
