"""Ragged arrays on disk: sequences of different lengths as one flat array and their offsets.

Sequence i is `values[offsets[i]:offsets[i + 1]]`. Saved as two .npy files `PREFIX.values.npy`
and `PREFIX.offsets.npy`; loading memory-maps the values, so a split larger than memory (the
LibriSpeech training audio, about 100 GB as int16) is read on demand.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass
class Ragged:
    values: np.ndarray
    offsets: np.ndarray  # [len + 1] int64, offsets[0] == 0

    @classmethod
    def from_sequences(cls, sequences: Sequence[np.ndarray], dtype) -> Ragged:
        lengths = [len(sequence) for sequence in sequences]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        values = (
            np.concatenate([np.asarray(s, dtype) for s in sequences])
            if sequences else np.zeros(0, dtype)
        )
        return cls(values, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        return self.values[self.offsets[index]:self.offsets[index + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def save(self, prefix: str) -> None:
        """Write both files (each through a temporary name, so a crash leaves no half file)."""
        path, partial = f"{prefix}.values.npy", f"{prefix}.values.{os.getpid()}.tmp.npy"
        np.save(partial, self.values)
        os.replace(partial, path)
        self.save_offsets(prefix)

    def save_offsets(self, prefix: str) -> None:
        path, partial = f"{prefix}.offsets.npy", f"{prefix}.offsets.{os.getpid()}.tmp.npy"
        np.save(partial, self.offsets)
        os.replace(partial, path)

    @classmethod
    def load(cls, prefix: str) -> Ragged:
        return cls(
            np.load(f"{prefix}.values.npy", mmap_mode="r"), np.load(f"{prefix}.offsets.npy")
        )

    @staticmethod
    def exists(prefix: str) -> bool:
        return all(os.path.exists(f"{prefix}.{suffix}.npy") for suffix in ("values", "offsets"))


def pad_rows(rows: Sequence[np.ndarray], length: int, dtype, fill=0) -> np.ndarray:
    """[len(rows), length] array of the rows, each cut to `length` and padded with `fill`."""
    shape = (len(rows), length)
    out = np.zeros(shape, dtype) if fill == 0 else np.full(shape, fill, dtype)  # zeros: lazy
    for i, row in enumerate(rows):
        row = row[:length]
        out[i, : len(row)] = row
    return out


def write_streaming(prefix: str, lengths: Sequence[int], dtype, sequences) -> None:
    """Save a ragged array too large for memory: `sequences` yields its rows in order.

    The values file is allocated at its final size (from `lengths`) and filled row by row.
    """
    offsets = np.concatenate([[0], np.cumsum(np.asarray(lengths, np.int64))]).astype(np.int64)
    partial = f"{prefix}.values.{os.getpid()}.tmp.npy"
    values = np.lib.format.open_memmap(partial, mode="w+", dtype=dtype, shape=(int(offsets[-1]),))
    count = 0
    for row, start, end in zip(sequences, offsets[:-1], offsets[1:]):
        if len(row) != end - start:
            raise ValueError(f"row {count} has {len(row)} values, expected {end - start}")
        values[start:end] = row
        count += 1
    if count != len(lengths):
        raise ValueError(f"got {count} rows, expected {len(lengths)}")
    values.flush()
    del values
    os.replace(partial, f"{prefix}.values.npy")
    Ragged(np.zeros(0, dtype), offsets).save_offsets(prefix)
