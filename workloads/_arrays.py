"""Prepared datasets stored as numpy arrays, in parts, read memory-mapped.

`bench prepare` writes a split as parts (one or more per raw file): for each part and each
feature a file <folder>/<part>_<feature>.npy. `ArrayParts` reads the parts of a split as one
sequence of examples without loading them (memory maps), with contiguous reads (`rows`) and
gathers (`take`) that cross part boundaries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench.workload import WorkloadSpec
from workloads import _synthetic
from workloads._prepared import PreparedDataWorkload

Arrays = dict[str, np.ndarray]


class ArrayParts:
    """Parts of equal-length feature arrays, read as one split of len(self) examples."""

    def __init__(self, parts: list[Arrays]):
        if not parts:
            raise ValueError("a split needs at least one part")
        self.parts = parts
        lengths = [len(next(iter(part.values()))) for part in parts]
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def rows(self, start: int, stop: int) -> Arrays:
        """Examples start..stop-1, in order."""
        return self.take(np.arange(start, stop))

    def take(self, indices: Sequence[int]) -> Arrays:
        """The examples at `indices`, in that order (one fancy-indexed read per part)."""
        indices = np.asarray(indices, np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"indices outside [0, {len(self)})")
        part_of = np.searchsorted(self.offsets, indices, side="right") - 1
        out = {key: np.empty((len(indices), *value.shape[1:]), value.dtype)
               for key, value in self.parts[0].items()}
        for part in np.unique(part_of):
            chosen = np.flatnonzero(part_of == part)
            local = indices[chosen] - self.offsets[part]
            order = np.argsort(local, kind="stable")  # sorted reads are faster on memory maps
            for key, value in self.parts[part].items():
                out[key][chosen[order]] = value[local[order]]
        return out


def write_part(folder: Path, name: str, arrays: Arrays) -> None:
    """Save one part of a split (each feature as <folder>/<name>_<feature>.npy)."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in arrays.items():
        np.save(folder / f"{name}_{key}.npy", value)


def read_parts(folder: Path, features: Sequence[str]) -> ArrayParts | None:
    """The parts under `folder` (memory-mapped), in name order; None when there are none."""
    marker = f"_{features[0]}.npy"
    names = sorted(path.name[: -len(marker)] for path in folder.glob(f"*{marker}"))
    if not names:
        return None
    return ArrayParts([
        {key: np.load(folder / f"{name}_{key}.npy", mmap_mode="r") for key in features}
        for name in names
    ])


@dataclasses.dataclass
class ArraySplits:
    splits: dict[str, ArrayParts]


class PreparedArraysWorkload(PreparedDataWorkload):
    """A workload whose train, validation and test splits are `ArrayParts`: prepared arrays
    under the data directory (`read_split(data_dir, split, name)`), or synthetic ones in a fake
    copy. Subclasses give the model, loss and batches; this class loads and hands out splits
    (`PreparedDataWorkload`)."""

    SPLIT_NAMES = ("train", "validation", "test")

    def __init__(self, spec: WorkloadSpec, read_split: Callable[[str | None, str, str], ArrayParts]):
        super().__init__(spec)
        self.read_split = read_split  # synthetic splits in a fake copy

    def synthetic_copy(self, model_size: str, batch_size: int,
                       synthetic_split: Callable[[int, int], ArrayParts], **attributes):
        """A fake copy (`Workload.fake`) whose splits are `synthetic_split(size, seed)`, each
        split with its own seed, evaluated in batches of `batch_size`."""
        sizes = _synthetic.split_sizes(batch_size)
        return _synthetic.synthetic_copy(
            self, model_size, batch_size, eval_batch_size=batch_size, _data=None,
            _loaded_from=None, **attributes,
            read_split=lambda data_dir, split, workload: synthetic_split(
                sizes[split], seed=list(sizes).index(split)
            ),
        )

    def read_prepared(self, data_dir: str | None) -> ArraySplits:
        return ArraySplits({split: self.read_split(data_dir, split, self.name)
                            for split in self.SPLIT_NAMES})
