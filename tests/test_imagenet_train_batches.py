"""ImageNet's training batches from grain (`workloads._grain`) on a tiny source of JPEGs.

The source imitates `tfds.data_source("imagenet2012")`: random access, each example decoded
from JPEG bytes to a uint8 array when read. Labels are distinct (7 * i), so a batch's targets
say which examples it holds.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from workloads import _grain, imagenet

NUM_EXAMPLES = 10
BATCH = 4


class JpegSource:
    """Random-access examples {"image": decoded uint8 [h, w, 3], "label": int}."""

    def __init__(self, num_examples: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.jpegs = []
        for _ in range(num_examples):
            height, width = (int(rng.integers(20, 48)) for _ in range(2))
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (height, width, 3), np.uint8)).save(
                buffer, "JPEG", quality=90)
            self.jpegs.append(buffer.getvalue())
        self.reads: list[int] = []  # indices read in this process

    def __len__(self) -> int:
        return len(self.jpegs)

    def __getitem__(self, index: int) -> dict:
        self.reads.append(int(index))
        image = np.asarray(Image.open(io.BytesIO(self.jpegs[index])).convert("RGB"))
        return {"image": image, "label": 7 * int(index)}


def workload(workers: int = 0, vit: bool = False, source: JpegSource | None = None):
    """ImageNet's ResNet (or ViT) workload reading `source`, images cropped to 16x16."""
    base = imagenet.IMAGENET_VIT if vit else imagenet.IMAGENET_RESNET
    data = dataclasses.replace(base.data, image_size=16, num_workers=workers)
    tiny = imagenet.ImagenetWorkload(base.spec, base.model, data=data)
    source = source or JpegSource(NUM_EXAMPLES)
    tiny.open_split = lambda *args, **kwargs: source
    tiny.load(None)
    return tiny


def take(batches, count: int) -> list[dict]:
    taken = [next(batches) for _ in range(count)]
    batches.close()
    return taken


def assert_same(first: list[dict], second: list[dict]) -> None:
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


@pytest.fixture(autouse=True)
def no_worker_override(monkeypatch):
    monkeypatch.delenv(_grain.WORKERS_VARIABLE, raising=False)


def test_shapes_dtypes_and_normalisation():
    (batch,) = take(workload().train_batches(BATCH, seed=0), 1)
    assert set(batch) == {"inputs", "targets"}
    assert batch["inputs"].shape == (BATCH, 16, 16, 3) and batch["inputs"].dtype == np.float32
    assert batch["targets"].shape == (BATCH,) and batch["targets"].dtype == np.int32
    # (pixel - mean) / std for pixels in [0, 255]: channel 0 spans [-2.118, 2.249]
    low = (0 - 0.485 * 255) / (0.229 * 255)
    high = (255 - 0.485 * 255) / (0.229 * 255)
    channel = batch["inputs"][..., 0]
    assert low - 1e-4 <= channel.min() and channel.max() <= high + 1e-4


def test_order_is_fixed_by_the_seed_and_every_epoch_is_a_permutation():
    first = take(workload().train_batches(BATCH, seed=5), 5)  # 20 examples: two epochs
    again = take(workload().train_batches(BATCH, seed=5), 5)
    assert_same(first, again)
    labels = np.concatenate([batch["targets"] for batch in first]) // 7
    assert sorted(labels[:NUM_EXAMPLES]) == list(range(NUM_EXAMPLES))
    assert sorted(labels[NUM_EXAMPLES:]) == list(range(NUM_EXAMPLES))
    assert list(labels[:NUM_EXAMPLES]) != list(labels[NUM_EXAMPLES:])  # reshuffled
    other = take(workload().train_batches(BATCH, seed=6), 3)
    assert not all(np.array_equal(a["targets"], b["targets"]) for a, b in zip(first, other))


def test_an_example_is_augmented_differently_in_each_epoch():
    batches = take(workload().train_batches(NUM_EXAMPLES, seed=1), 2)  # one epoch per batch
    first, second = (batch["inputs"][np.argsort(batch["targets"])] for batch in batches)
    assert all(not np.array_equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("started", [False, True])
def test_skip_n_equals_dropping_n_batches(started):
    expected = take(workload(vit=True).train_batches(BATCH, seed=2), 6)[3:]
    batches = workload(vit=True).train_batches(BATCH, seed=2)
    if started:
        next(batches)
        batches.skip(2)
    else:
        batches.skip(3)
    assert batches.position == 3
    assert_same(take(batches, 3), expected)


def test_skip_does_not_read_the_skipped_examples():
    source = JpegSource(NUM_EXAMPLES)
    batches = workload(source=source).train_batches(BATCH, seed=0).skip(1000)
    take(batches, 1)
    assert len(source.reads) == BATCH


def test_vit_batches_carry_one_mixup_weight_per_batch():
    batches = take(workload(vit=True).train_batches(BATCH, seed=0), 3)
    weights = [batch["mixup_weights"] for batch in batches]
    assert all(w.shape == (BATCH,) and w.dtype == np.float32 and np.all(w == w[0]) for w in weights)
    assert all(0.0 <= w[0] <= 1.0 for w in weights)
    assert len({float(w[0]) for w in weights}) == 3  # a new draw per batch


def test_worker_processes_give_the_same_batches_as_the_training_process():
    """Two spawned workers (each builds every other batch) against none; and skip with them."""
    in_process = take(workload(workers=0, vit=True).train_batches(BATCH, seed=3), 7)
    two = workload(workers=2, vit=True).train_batches(BATCH, seed=3)
    assert two.workers == 2
    assert_same(take(two, 5), in_process[:5])
    assert_same(take(two, 2), in_process[5:])  # closed, then restarted at its position
    resumed = workload(workers=2, vit=True).train_batches(BATCH, seed=3).skip(3)
    assert_same(take(resumed, 2), in_process[3:5])


def test_worker_count_from_cores_config_and_environment(monkeypatch):
    cores = _grain.available_cores()
    assert _grain.worker_count() == max(1, cores - 1)
    assert _grain.worker_count(3) == 3
    monkeypatch.setenv(_grain.WORKERS_VARIABLE, "0")
    assert _grain.worker_count(3) == 0
    assert workload(workers=5).train_batches(BATCH, seed=0).workers == 0
    monkeypatch.setenv(_grain.WORKERS_VARIABLE, "many")
    with pytest.raises(ValueError, match=_grain.WORKERS_VARIABLE):
        _grain.worker_count()


def test_batch_size_larger_than_the_split_is_refused():
    with pytest.raises(ValueError, match="batch size 11"):
        workload().train_batches(NUM_EXAMPLES + 1, seed=0)
