"""The numpy input pipeline of the in-memory (cpu-tier) workloads."""

import itertools

import numpy as np
import pytest

from workloads import _pipeline


def arrays(n=10):
    return {"inputs": np.arange(n * 2, dtype=np.float32).reshape(n, 2), "targets": np.arange(n)}


def test_shuffled_arrays_follow_the_index_batches_of_the_same_seed():
    data = arrays()
    # 10 examples, batches of 3: 3 batches per epoch, the ragged example dropped; 4 epochs
    expected = [{key: value[index] for key, value in data.items()}
                for index in itertools.islice(_pipeline.shuffled_index_batches(10, 3, seed=7), 12)]
    got = list(itertools.islice(_pipeline.ShuffledArrays(data, 3, seed=7), 12))
    for want, have in zip(expected, got, strict=True):
        for key in data:
            np.testing.assert_array_equal(have[key], want[key])
    # every epoch draws 9 distinct examples
    for epoch in range(4):
        seen = np.concatenate([batch["targets"] for batch in got[3 * epoch:3 * epoch + 3]])
        assert len(set(seen.tolist())) == 9
    # batches pair inputs with their own targets
    for batch in got:
        np.testing.assert_array_equal(batch["inputs"][:, 0], 2 * batch["targets"])


@pytest.mark.parametrize("count", [0, 1, 3, 5, 7])
def test_skip_lands_where_consuming_would(count):
    consumed = _pipeline.ShuffledArrays(arrays(), 3, seed=1)
    for _ in range(count):
        next(consumed)
    skipped = _pipeline.ShuffledArrays(arrays(), 3, seed=1).skip(count)
    for _ in range(4):
        np.testing.assert_array_equal(next(skipped)["targets"], next(consumed)["targets"])


def test_shuffled_arrays_reject_bad_input():
    with pytest.raises(ValueError, match="batch size 11"):
        _pipeline.ShuffledArrays(arrays(), 11, seed=0)
    with pytest.raises(ValueError, match="different lengths"):
        _pipeline.ShuffledArrays({"a": np.zeros(3), "b": np.zeros(4)}, 2, seed=0)
