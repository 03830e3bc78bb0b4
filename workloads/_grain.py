"""Training batches from a grain pipeline, built in worker processes, resumable at any batch.

grain (github.com/google/grain) is the JAX ecosystem's input-pipeline library. A workload
describes one epoch's preprocessing as a `grain.MapDataset` over its random-access source (a
tfds ArrayRecord data source, or a synthetic split) with `training_batches`:

    source -> seed(seed) -> shuffle -> repeat -> random_map(preprocess) -> batch(batch_size)

Every epoch is a new permutation (grain's shuffle reseeds per epoch), the randomness of each
example comes from (seed, position in the endless stream) and batch k is always elements
[k*B, (k+1)*B) of that stream: the batches are a function of the seed alone, whatever the
number of workers. Batches may span two epochs (nothing is dropped).

`GrainBatches` iterates such a dataset of batches. With `workers` > 0 the batches are built in
that many worker processes (grain's `mp_prefetch`: worker i builds batches i, i+N, ... and the
results are interleaved back in order), which use their own cores instead of sharing the
training process's interpreter lock with the training loop; with 0 they are built in the
calling thread. `skip(count)` moves on `count` batches without building them (the dataset is
random access: the iterator restarts at the new position), so a resumed trial continues at
the same batch. Workers start on the first `next` and stop on `close` (or when the object is
garbage-collected).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

WORKERS_VARIABLE = "BENCH_DATA_WORKERS"
BUFFER_PER_WORKER = 1  # batches each worker holds ready (ImageNet: 616 MB each at full size)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(configured: int | None = None) -> int:
    """Worker processes to use: $BENCH_DATA_WORKERS if set, else `configured` if given, else
    one per available core but one (left to the training loop), at least one."""
    override = os.environ.get(WORKERS_VARIABLE)
    if override is not None:
        if not override.isdigit():
            raise ValueError(f"{WORKERS_VARIABLE} must be a number of workers, not {override!r}")
        return int(override)
    if configured is not None:
        return configured
    return max(1, available_cores() - 1)


def training_batches(source, preprocess: Callable[[Any, np.random.Generator], Any],
                     batch_size: int, seed: int):
    """The endless `grain.MapDataset` of training batches described in the module docstring.

    `preprocess(example, rng)` returns one example's arrays; it must be picklable (a top-level
    function or an instance of a top-level class) to reach the worker processes.
    """
    import grain

    if not 0 < batch_size <= len(source):
        raise ValueError(f"batch size {batch_size} must be in [1, {len(source)}] (the split size)")
    return (grain.MapDataset.source(source).seed(seed % 2**32).shuffle().repeat()
            .random_map(preprocess).batch(batch_size, drop_remainder=True))


def allow_unparsed_absl_flags() -> None:
    """grain reads absl flags in its worker processes; bench parses none, so mark them parsed."""
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


class GrainBatches:
    """Iterate a random-access dataset of batches from `position` on, in `workers` processes."""

    def __init__(self, batches, workers: int, position: int = 0):
        self._batches = batches
        self.workers = workers
        self.position = position  # the number of the next batch
        self._iterator = None

    def __iter__(self) -> GrainBatches:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self._iterator is None:
            self._iterator = self._start()
        batch = next(self._iterator)
        self.position += 1
        return batch

    def _start(self):
        import grain

        stream = self._batches[self.position:].to_iter_dataset(
            grain.ReadOptions(num_threads=0))  # each worker builds its batches in turn
        if self.workers:
            allow_unparsed_absl_flags()
            options = grain.MultiprocessingOptions(
                num_workers=self.workers, per_worker_buffer_size=BUFFER_PER_WORKER)
            stream = stream.mp_prefetch(options)
        return iter(stream)

    def skip(self, count: int) -> GrainBatches:
        """Move on `count` batches without building them (resuming a trial)."""
        self.close()
        self.position += count
        return self

    def close(self) -> None:
        """Stop the worker processes (a later `next` starts them again at `position`)."""
        iterator, self._iterator = self._iterator, None
        if iterator is not None and hasattr(iterator, "close"):
            iterator.close()
