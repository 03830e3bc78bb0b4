"""Synthetic stand-ins for a workload's data: examples of the true features, made in memory.

A full-tier workload's `fake(model_size)` (see `bench.workload`) is a copy of the workload whose
data source is a `SyntheticDataset` instead of the prepared tfds dataset: every split is a
`SyntheticSplit`, a random-access sequence of examples with the features (names, shapes, dtypes)
that `tfds.data_source` would return, drawn from a generator seeded by (split, index), so the
same index is always the same example. The workload's own pipeline (decoding, cropping,
packing, batching) then runs unchanged on them: a smoke run exercises everything but the files.

Split sizes of a fake copy are small multiples of its batch size (`split_sizes`); `model_size`
"tiny" also swaps the model for a small one of the same family and the batch size for
`TINY_BATCH_SIZE`, so that a step takes milliseconds on a CPU. The copy keeps the workload's
name, targets and rules; its spec's dataset (and, when tiny, model and batch size) say that it
is fake, so its records cannot pass for those of a real run.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bench.workload import MODEL_SIZES, WorkloadSpec

TINY_BATCH_SIZE = 8
Example = dict[str, Any]


class SyntheticSplit(Sequence):
    """`num_examples` examples; example i is `make_example(rng)` with rng seeded by (seed, i)."""

    def __init__(self, num_examples: int, make_example: Callable[[np.random.Generator], Example],
                 seed: int):
        self._num_examples = num_examples
        self._make_example = make_example
        self._seed = seed

    def __len__(self) -> int:
        return self._num_examples

    def __getitem__(self, index: int) -> Example:
        index = int(index)
        if not 0 <= index < self._num_examples:
            raise IndexError(f"index {index} out of range for {self._num_examples} examples")
        return self._make_example(np.random.default_rng([self._seed, index]))

    def __getitems__(self, indices) -> list[Example]:
        return [self[i] for i in indices]


class SyntheticDataset:
    """Synthetic splits, opened like `workloads._tfds.open_split` (same call signature)."""

    def __init__(self, splits: dict[str, int],
                 make_example: Callable[[np.random.Generator], Example]):
        self.splits = {
            name: SyntheticSplit(size, make_example, seed)
            for seed, (name, size) in enumerate(sorted(splits.items()))
        }

    def __call__(self, builder_name: str, split: str, *, data_dir=None, workload: str = "",
                 note: str = "") -> SyntheticSplit:
        return self.splits[split]


def check_model_size(model_size: str) -> str:
    if model_size not in MODEL_SIZES:
        raise ValueError(f"model size must be one of {', '.join(MODEL_SIZES)}, not {model_size!r}")
    return model_size


def fake_batch_size(spec: WorkloadSpec, model_size: str, tiny: int = TINY_BATCH_SIZE) -> int:
    """The batch size of a fake copy: `tiny` at model size "tiny", the real one at "full"."""
    return tiny if check_model_size(model_size) == "tiny" else spec.batch_size


def split_sizes(batch_size: int, train: str = "train") -> dict[str, int]:
    """Fake split sizes: 8 training batches, 2 batches each for validation and test."""
    return {train: 8 * batch_size, "validation": 2 * batch_size, "test": 2 * batch_size}


def fake_spec(spec: WorkloadSpec, model_size: str, batch_size: int) -> WorkloadSpec:
    """The spec of a fake copy: same name, targets and budget; says it is synthetic (and tiny)."""
    changes = {"dataset": f"synthetic data of the shapes of {spec.dataset}"}
    if check_model_size(model_size) == "tiny":
        changes.update(model=f"tiny {spec.model}", batch_size=batch_size)
    return dataclasses.replace(spec, **changes)


def synthetic_copy(workload, model_size: str, batch_size: int | None = None, **attributes):
    """A shallow copy of `workload` with `attributes` replaced, its compiled functions dropped.

    `batch_size` is the tiny copy's (default `TINY_BATCH_SIZE`). The copy's `fake_of` is
    (workload, model_size), which is how another process rebuilds it.
    """
    clone = copy.copy(workload)
    for name in [name for name in vars(clone) if name.startswith("_jitted")]:
        delattr(clone, name)  # compiled for the original's model and shapes
    for name, value in attributes.items():
        setattr(clone, name, value)
    clone.spec = fake_spec(workload.spec, model_size, batch_size or TINY_BATCH_SIZE)
    clone.fake_of = (workload, model_size)
    return clone


# ------------------------------------------------------------------------ example makers


def labelled_images(shape: tuple[int, ...], num_classes: int):
    """Examples {"image": uint8 `shape`, "label": int} with uniform pixels and labels."""

    def make(rng: np.random.Generator) -> Example:
        return {"image": rng.integers(0, 256, shape, np.uint8),
                "label": np.int64(rng.integers(num_classes))}

    return make


def imagenet_like_size(rng: np.random.Generator) -> tuple[int, int]:
    """(height, width) like ImageNet's training images, which were scaled to at most 500 pixels
    on the longer side: most are 500x375 or 375x500 (landscape three times in four); the rest
    have a longer side of 300-500 pixels and an aspect ratio of 1-2."""
    if rng.random() < 0.6:
        long_side, short_side = 500, 375
    else:
        long_side = int(rng.integers(300, 501))
        short_side = int(long_side / rng.uniform(1.0, 2.0))
    return (short_side, long_side) if rng.random() < 0.75 else (long_side, short_side)


def imagenet_like_images(num_classes: int):
    """Examples {"image": uint8 [h, w, 3] of ImageNet-like size, "label": int}."""

    def make(rng: np.random.Generator) -> Example:
        height, width = imagenet_like_size(rng)
        return {"image": rng.integers(0, 256, (height, width, 3), np.uint8),
                "label": np.int64(rng.integers(num_classes))}

    return make
