"""Handwritten digits, 8x8 (the UCI "Optical Recognition of Handwritten Digits" set): smoke tier.

A check that a submission trains at all, in seconds; not part of any leaderboard. It left the
scored cpu tier because a tuned baseline meets its target within 1,000 steps (1-3 s on 2 cores)
and its 300 validation images move accuracy in steps of 0.33%: too coarse and too quick a
measurement to rank training algorithms by (issue 21).

The 1,797 images bundled with scikit-learn (`sklearn.datasets.load_digits`; Alpaydin & Kaynak
1998; nothing is downloaded): 8x8 grey images of the digits 0-9, each pixel a count 0-16 of set
cells in a 4x4 block of a 32x32 bitmap. The examples are permuted with a fixed seed and split
1,197 train / 300 validation / 300 test (the split is part of the workload definition). Inputs
are normalised with the training split's pixel mean and standard deviation (one value each,
computed from the training images only).

Model: a small 2-D CNN (`DigitsCNN`): two 3x3 convolutions (16 and 32 channels, ReLU), 2x2 max
pooling, a dense layer of 64 ReLU units and a linear classifier (about 38k parameters). Softmax
cross-entropy; the target is validation accuracy.

`load_digits_splits` is shared with the digits autoencoder (`workloads.autoencoder`).
"""

from __future__ import annotations

from collections.abc import Iterator

import flax.linen as nn
import numpy as np

from bench.workload import Batch, WorkloadSpec
from workloads import _pipeline
from workloads._image_classification import ImageClassificationWorkload
from workloads import targets

SPLIT_SEED = 0
SPLIT_SIZES = {"train": 1_197, "validation": 300, "test": 300}
NUM_CLASSES = 10
MAX_PIXEL = 16.0


def load_digits_splits(seed: int = SPLIT_SEED) -> dict[str, dict[str, np.ndarray]]:
    """The fixed splits: {"images": float32 [n, 8, 8] in [0, 1], "targets": int32 [n]} each."""
    from sklearn.datasets import load_digits  # imported on use: keeps importing workloads cheap

    digits = load_digits()
    images = (digits.images / MAX_PIXEL).astype(np.float32)
    targets = digits.target.astype(np.int32)
    if len(targets) != sum(SPLIT_SIZES.values()):
        raise ValueError(f"scikit-learn's digits has {len(targets)} images, expected 1797")
    order = np.random.default_rng(seed).permutation(len(targets))
    splits, start = {}, 0
    for split, size in SPLIT_SIZES.items():
        index = order[start:start + size]
        splits[split] = {"images": images[index], "targets": targets[index]}
        start += size
    return splits


class DigitsCNN(nn.Module):
    channels: tuple[int, int] = (16, 32)
    dense: int = 64

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.relu(nn.Conv(self.channels[0], (3, 3))(x))
        x = nn.relu(nn.Conv(self.channels[1], (3, 3))(x))
        x = nn.max_pool(x, (2, 2), strides=(2, 2))  # 8x8 -> 4x4
        x = nn.relu(nn.Dense(self.dense)(x.reshape(x.shape[0], -1)))
        return nn.Dense(NUM_CLASSES)(x)


class DigitsWorkload(ImageClassificationWorkload):
    """8x8 digit classification; data held in memory, normalised with training statistics."""

    def __init__(self, spec: WorkloadSpec, model: nn.Module, eval_batch_size: int = 300):
        super().__init__(spec, model, input_shape=(8, 8, 1), num_classes=NUM_CLASSES,
                         eval_batch_size=eval_batch_size)
        self._data: dict[str, dict[str, np.ndarray]] | None = None

    def load(self, data_dir: str | None = None) -> None:
        if self._data is not None:
            return
        splits = load_digits_splits()
        train_images = splits["train"]["images"]
        self.mean, self.std = float(train_images.mean()), float(train_images.std())
        self._data = {
            split: {
                "inputs": ((arrays["images"] - self.mean) / self.std)[..., None],
                "targets": arrays["targets"],
            }
            for split, arrays in splits.items()
        }

    def _split(self, split: str) -> dict[str, np.ndarray]:
        if self._data is None:
            raise RuntimeError(f"workload {self.name}: call load() first")
        return self._data[split]

    @property
    def num_train_examples(self) -> int:
        return SPLIT_SIZES["train"]

    def train_batches(self, batch_size: int, seed: int) -> Iterator[Batch]:
        return _pipeline.ShuffledArrays(self._split("train"), batch_size, seed)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        data = self._split(split)
        for index, mask in _pipeline.eval_index_batches(len(data["targets"]), self.eval_batch_size):
            yield {"inputs": data["inputs"][index], "targets": data["targets"][index], "mask": mask}


DIGITS = DigitsWorkload(
    WorkloadSpec(
        name="digits",
        tier="smoke",
        dataset="scikit-learn digits 8x8 (1,197/300/300)",
        model="2-D CNN: conv 16, conv 32, pool, dense 64",
        target_metric="accuracy",
        test_target=None,
        higher_is_better=True,
        eval_period=0.5,
        batch_size=64,
        description="8x8 handwritten digits with a small 2-D CNN",
        **targets.spec_fields("digits"),
    ),
    DigitsCNN(),
)

WORKLOADS = [DIGITS]
