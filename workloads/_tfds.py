"""Reading TensorFlow Datasets without TensorFlow: random access through `tfds.data_source`.

`tfds.data_source` opens a prepared split stored as ArrayRecord files and returns a sequence of
decoded examples (dicts of numpy arrays) with `len`, `[i]` and the batched `__getitems__`. It
needs `tensorflow-datasets` and `array_record`, not TensorFlow. Only reading is TensorFlow-free:
preparing (building) most datasets with `tfds build` needs TensorFlow installed.

Datasets small enough to hold in memory are decoded once and cached as numpy arrays
(`cached_arrays`) under $BENCH_CACHE_DIR/tfds (default ~/.cache/bench/tfds): decoding goes
through tfds's per-example Python deserialisation (about 150 us per MNIST image or molecule
graph), so OGBG-MOLPCBA takes a minute or more to decode and under a second to load back.

Nothing here downloads: a split that is not prepared in the ArrayRecord format under the data
directory raises `DatasetNotPreparedError` (a `ValueError`) with a one-line message that names the
tfds builder and the command that prepares it. `tensorflow_datasets` is imported on first use, so
importing a workload module stays cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ARRAY_RECORD = "array_record"
READ_CHUNK = 2048  # examples per batched read when a whole split is read into memory


class DatasetNotPreparedError(ValueError):
    """A workload's tfds dataset is missing, or not stored in a random-access format."""


def import_tfds():
    """`tensorflow_datasets`, imported on first use (it takes about a second)."""
    import tensorflow_datasets

    return tensorflow_datasets


def default_data_dir() -> str:
    """Where tfds looks without a data directory: $TFDS_DATA_DIR or ~/tensorflow_datasets."""
    return str(import_tfds().core.constants.get_default_data_dir())


def build_command(builder: str, data_dir: str | None) -> str:
    """The shell command that prepares `builder` for random access under `data_dir`."""
    return (
        f"tfds build {builder} --data_dir {data_dir or default_data_dir()} "
        f"--file_format {ARRAY_RECORD}"
    )


@contextlib.contextmanager
def quiet_absl_warnings():
    """Hide tfds's absl warnings (e.g. about a dataset folder without dataset_info.json) while
    probing for a dataset: a missing dataset is reported once, by `DatasetNotPreparedError`."""
    logger = logging.getLogger("absl")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _diagnose(builder_name: str, data_dir: str | None) -> str:
    """Why a split could not be opened, in a few words."""
    tfds = import_tfds()
    try:
        builder = tfds.builder(builder_name, data_dir=data_dir)
    except Exception:  # an unregistered name with no files on disk, a broken install, ...
        return "not found"
    if not builder.is_prepared():
        return "not found"
    file_format = getattr(builder.info.file_format, "value", builder.info.file_format)
    if file_format != ARRAY_RECORD:
        return f"prepared as {file_format}, but reading without TensorFlow needs {ARRAY_RECORD}"
    return "prepared, but this split could not be opened"


def open_split(
    builder_name: str,
    split: str,
    *,
    data_dir: str | None,
    workload: str,
    note: str = "",
) -> Sequence[dict[str, Any]]:
    """The decoded examples of one split of a prepared tfds dataset (random access).

    Never downloads or prepares anything. `note` is appended to the error message (e.g. that
    the data must be downloaded by hand first); "{data_dir}" in it becomes the data directory.
    """
    tfds = import_tfds()
    with quiet_absl_warnings():
        try:
            return tfds.data_source(
                builder_name, split=split, data_dir=data_dir, download=False, try_gcs=False
            )
        except (ValueError, KeyError, NotImplementedError, OSError, AssertionError):
            reason = _diagnose(builder_name, data_dir)
    where = data_dir or default_data_dir()
    note = note.format(data_dir=where)
    message = (
        f"workload {workload}: tfds dataset {builder_name!r} (split {split!r}) under {where}: "
        f"{reason}. Prepare it with `{build_command(builder_name, data_dir)}` (this needs "
        f"TensorFlow: pip install tensorflow)"
        f"{' (' + note + ')' if note else ''}, or pass --data-dir where it is prepared."
    )
    raise DatasetNotPreparedError(message) from None


def read_examples(source: Sequence[dict[str, Any]], indices: Sequence[int]) -> list[dict]:
    """The examples at `indices`, read in one batched call where the source supports it."""
    indices = [int(i) for i in indices]
    batched = getattr(source, "__getitems__", None)
    if batched is not None:
        return list(batched(indices))
    return [source[i] for i in indices]


def read_in_chunks(source: Sequence[dict[str, Any]]) -> Iterator[list[dict]]:
    """All examples of a split in stored order, READ_CHUNK at a time (batched reads)."""
    for start in range(0, len(source), READ_CHUNK):
        yield read_examples(source, range(start, min(start + READ_CHUNK, len(source))))


def read_arrays(
    source: Sequence[dict[str, Any]], convert: dict[str, tuple[str, np.dtype]]
) -> dict[str, np.ndarray]:
    """A whole split as stacked arrays, in the split's stored order.

    `convert` maps each output name to (feature name, dtype), e.g.
    {"inputs": ("image", np.uint8), "targets": ("label", np.int32)}. Meant for datasets that fit
    in memory (MNIST, CIFAR).
    """
    parts: dict[str, list[np.ndarray]] = {name: [] for name in convert}
    for examples in read_in_chunks(source):
        for name, (feature, dtype) in convert.items():
            parts[name].append(np.stack([np.asarray(ex[feature], dtype) for ex in examples]))
    return {
        name: np.concatenate(chunks) if chunks else np.zeros((0,), dtype)
        for (name, chunks), (_, dtype) in zip(parts.items(), convert.values())
    }


def cache_dir() -> Path:
    from bench.environment import cache_root

    return cache_root() / "tfds"


def cached_arrays(
    source: Sequence[dict[str, Any]],
    split: str,
    conversion: str,
    read: Callable[[], dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """`read()` once per prepared dataset split and conversion; later calls load its cached result.

    The cache key is the dataset's directory, its dataset_info.json (size and modification
    time: rebuilding the dataset invalidates the cache), the split and `conversion`, a name for
    what `read` computes (change it when `read` changes). Sources that are not a prepared dataset
    on disk (e.g. `tfds.testing.mock_data`) are read every time.
    """
    info = getattr(source, "dataset_info", None)
    info_file = Path(str(info.data_dir)) / "dataset_info.json" if info is not None else None
    if info_file is None or not info_file.is_file():
        return read()
    stat = info_file.stat()
    identity = [str(info_file.resolve()), stat.st_size, stat.st_mtime_ns, split, conversion]
    key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]
    path = cache_dir() / f"{info.name}-{info.version}-{split}-{key}.npz"
    if path.exists():
        with np.load(path) as cached:
            return {name: cached[name] for name in cached.files}
    arrays = read()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(partial, **arrays)
    os.replace(partial, path)
    return arrays
