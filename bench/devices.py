"""Placing a trial on all local devices, and feeding them without making them wait.

One device per trial (`bench study --jobs N`): each trial's process calls
`pin_to_device(slot, N)` before jax starts its backends. On NVIDIA GPUs the slot becomes
`CUDA_VISIBLE_DEVICES` (the process sees, and allocates memory on, its one GPU only); elsewhere
(CPU devices, including fake ones from XLA_FLAGS=--xla_force_host_platform_device_count) the mesh
takes device `slot` of `jax.devices()`, and the process is kept to its share of the CPUs. The
slot is kept in `BENCH_DEVICE_SLOT`.

Data parallelism with `jax.sharding`: a one-axis mesh ("data") over the local devices; every
training batch is split along its first axis across the mesh; parameters, model state and
optimizer state are replicated. `jax.jit` then partitions the training step (GSPMD) and inserts
the gradient all-reduce itself. On one device the mesh has one entry and the code path is the same.

For several hosts, call `jax.distributed.initialize(...)` first (the CLI's `--coordinator`,
`--num-processes`, `--process-id` options do it); `jax.devices()` then spans every host and each
host feeds its own slice (`host_slice`).

`Prefetcher` pulls batches on a background thread and places them on the devices ahead of time,
so that host-side batching overlaps device compute; the training loop then only waits when the
pipeline cannot keep up, and that wait is measured.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


SLOT_VARIABLE = "BENCH_DEVICE_SLOT"
NVIDIA_GPUS = "/proc/driver/nvidia/gpus"  # one entry per GPU; reading it starts no CUDA


def pin_to_device(slot: int, slots: int = 1) -> None:
    """Make this process train on one device, number `slot` (modulo the devices there are), one
    of `slots` trials running at once.

    On a machine without GPUs the device is the CPU: with `slots` > 1 the process is kept to
    its slot's share of the CPUs it may use (`cpu_share`), so that parallel trials do not take
    each other's cores. Call before jax's first use of a device: `CUDA_VISIBLE_DEVICES` is read
    when CUDA starts, and XLA's CPU threads are started on the CPUs allowed then.
    """
    os.environ[SLOT_VARIABLE] = str(slot)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = visible.split(",") if visible else (
        [str(i) for i in range(len(os.listdir(NVIDIA_GPUS)))] if os.path.isdir(NVIDIA_GPUS) else [])
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    elif slots > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpu_share(slot, slots, sorted(os.sched_getaffinity(0))))


def cpu_share(slot: int, slots: int, cpus: list[int]) -> list[int]:
    """The CPUs of trial slot `slot` of `slots` running at once: an equal, contiguous share of
    `cpus` (the first slots take one more when they do not divide evenly), or, with fewer CPUs
    than slots, the one CPU number `slot` modulo their count."""
    if len(cpus) < slots:
        return [cpus[slot % len(cpus)]]
    size, extra = divmod(len(cpus), slots)
    start = slot * size + min(slot, extra)
    return cpus[start:start + size + (slot < extra)]


def data_mesh(devices=None) -> Mesh:
    """A one-axis mesh over `devices` (default: all, or the one `pin_to_device` chose)."""
    if devices is None:
        devices = jax.devices()
        slot = os.environ.get(SLOT_VARIABLE)
        if slot is not None:
            devices = [devices[int(slot) % len(devices)]]
    return Mesh(np.asarray(devices), ("data",))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Copies of `tree` on every device of the mesh.

    On a one-device mesh the arrays are placed on that device without a sharding annotation:
    the same placement, and jit's dispatch of unannotated arrays is measurably cheaper.
    """
    if mesh.devices.size == 1:
        return jax.device_put(tree, mesh.devices.flat[0])
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def batch_placer(mesh: Mesh, batch_size: int) -> Callable[[dict], dict]:
    """A function that splits a host batch across the mesh along its first axis."""
    count = mesh.devices.size
    if batch_size % count:
        raise ValueError(
            f"batch size {batch_size} is not divisible by the {count} devices of the mesh"
        )
    if count == 1:
        # One device: hand the host arrays to the jitted step as they are. Its argument
        # handling copies them to the device more cheaply than a separate device_put call
        # (about 100 us per batch on CPU), which would otherwise dominate small steps.
        return lambda batch: batch
    sharding = NamedSharding(mesh, PartitionSpec("data"))
    if jax.process_count() > 1:
        start, stop = host_slice(batch_size)

        def place_global(batch):  # every host builds the same global batch; each sends its rows
            return jax.tree.map(
                lambda x: jax.make_array_from_process_local_data(sharding, x[start:stop]), batch
            )
        return place_global
    return lambda batch: jax.device_put(batch, sharding)


def host_slice(batch_size: int) -> tuple[int, int]:
    """The [start, stop) rows of a global batch this host loads (multi-host runs)."""
    per_host = batch_size // jax.process_count()
    start = jax.process_index() * per_host
    return start, start + per_host


_DONE = object()


def close_source(source: Iterator) -> None:
    """Release a batch source: a grain pipeline's worker processes, a generator's frame. A
    source without `close` holds nothing to release."""
    close = getattr(source, "close", None)
    if callable(close):
        close()


class Inline:
    """The `Prefetcher` interface without a thread: pull and place each batch when asked."""

    def __init__(self, source: Iterator, place: Callable[[Any], Any]):
        self._source, self._place = source, place

    def __iter__(self):
        return self

    def __next__(self):
        return self._place(next(self._source))

    def close(self) -> None:
        close_source(self._source)


def batch_stream(source: Iterator, place: Callable[[Any], Any]):
    """Prefetch on accelerators; on CPU pull batches inline.

    On an accelerator a background thread overlaps host batching with device compute. On CPU
    the device *is* the host: the thread only competes with XLA's compute threads and the
    training loop for the cores and the GIL, and measured slower (benchmarks/input_pipeline.py).
    """
    if jax.default_backend() == "cpu":
        return Inline(source, place)
    return Prefetcher(source, place)


class Prefetcher:
    """Iterate `source` on a background thread, `place` each item, keep `depth` ready."""

    def __init__(self, source: Iterator, place: Callable[[Any], Any], depth: int = 2):
        self._source = source
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(source, place), daemon=True)
        self._thread.start()

    def _fill(self, source, place):
        try:
            for item in source:
                placed = place(item)
                while not self._stop.is_set():
                    try:
                        self._queue.put(placed, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._queue.put(_DONE)
        except BaseException as error:  # hand the pipeline's failure to the training loop
            self._queue.put(error)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if item is _DONE:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if not self._thread.is_alive():  # never close a source under a thread still pulling
            close_source(self._source)
