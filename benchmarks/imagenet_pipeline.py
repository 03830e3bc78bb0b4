"""ImageNet training input pipeline: images per second per core, threads against grain.

A synthetic ImageNet is written as a tfds `imagenet2012` dataset in the array_record format
(through tfds's builder, as `tfds build` writes it): JPEG images (quality 90) of ImageNet's
size distribution (`workloads._synthetic.imagenet_like_size`: mostly 500x375, longer side at
most 500 pixels), with smooth content (a random 8x8 colour field upscaled, plus uniform noise
of +-48) so that they compress like photographs (100 kB on average). Both loaders read the
same files with `tfds.data_source` (which decodes the JPEGs) and apply the same per-example
preprocessing (`workloads.imagenet.train_image`: random-area crop, flip, bicubic resize to 224,
for ViT also RandAugment), then stack and normalise a batch:

- threads: the workload's loader (`ImagenetWorkload.train_batches`), a pool of `workers`
  threads in the training process;
- grain: `grain.MapDataset` over the same source, shuffled, `random_map` with the same
  preprocessing, batched, with `workers` worker processes (`mp_prefetch`).

For each number of workers, in each of `rounds` rounds, each loader in turn is started, reads
one warm-up batch per worker (grain's worker processes take seconds to start), then `batches`
batches of `batch_size` (grain's workers buffer one batch each ahead), and is stopped;
alternating rounds let both see the same machine load. The table gives median images per
second, per core (the rate divided by the workers: each worker can use one core; on a machine
with fewer free cores than workers the per-core figure is too low), and the median of the
per-round ratios grain / threads with its interquartile range.
Heavy: run it alone (`flock /tmp/cpu.lock python benchmarks/imagenet_pipeline.py`).

    python benchmarks/imagenet_pipeline.py [--images 192] [--batch-size 32] [--batches 5]
                                           [--rounds 3] [--workers 1 2] [--randaugment]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import quartiles  # noqa: E402

from workloads import _image_ops, _synthetic, imagenet  # noqa: E402


def photo_like_jpeg(rng: np.random.Generator) -> io.BytesIO:
    from PIL import Image

    height, width = _synthetic.imagenet_like_size(rng)
    field = Image.fromarray(rng.integers(0, 256, (8, 8, 3), np.uint8)).resize(
        (width, height), Image.BICUBIC)
    pixels = np.asarray(field, np.int16) + rng.integers(-48, 49, (height, width, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    buffer.seek(0)
    return buffer


def write_dataset(data_dir: str, num_images: int) -> None:
    """A synthetic imagenet2012 (train split only) in array_record format under `data_dir`."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import registered

    rng = np.random.default_rng(0)
    examples = [{"image": photo_like_jpeg(rng), "label": int(rng.integers(1000)),
                 "file_name": f"{i}.JPEG"} for i in range(num_images)]
    real = tfds.builder_cls("imagenet2012")
    with registered.skip_registration():

        class Synthetic(real):
            __module__ = "__main__"  # see tests/test_workloads_full.py: build_fake_dataset

            def _split_generators(self, dl_manager):
                return {"train": self._generate_examples()}

            def _generate_examples(self):
                yield from enumerate(examples)

        Synthetic.name = real.name
    Synthetic(data_dir=data_dir, file_format="array_record").download_and_prepare()
    sizes = [len(example["image"].getvalue()) for example in examples]
    print(f"mean JPEG size {np.mean(sizes) / 1000:.0f} kB (ImageNet's training JPEGs: ~110 kB)")


def rate(batches, count: int) -> float:
    """Images per second over the next `count` batches."""
    start = time.perf_counter()
    images = sum(len(next(batches)["targets"]) for _ in range(count))
    return images / (time.perf_counter() - start)


def thread_batches(data_dir, data, workers, batch_size):
    spec = dataclasses.replace(imagenet.IMAGENET_RESNET_SPEC, batch_size=batch_size)
    workload = imagenet.ImagenetWorkload(
        spec, imagenet.IMAGENET_RESNET.model, data=dataclasses.replace(data, num_workers=workers))
    source = workload.open_split(imagenet.TRAIN_BUILDER, "train", data_dir=data_dir, workload="")
    workload.open_split = lambda *args, **kwargs: source  # the train split serves every split
    workload.load(data_dir)
    return workload.train_batches(batch_size, seed=0)


class Preprocess:
    """grain's per-example transform: the workload's training preprocessing (picklable)."""

    def __init__(self, data):
        self.data = data

    def __call__(self, example, rng):
        image = imagenet.train_image(example, rng, self.data)
        return {"inputs": image, "targets": np.int32(example["label"])}


def normalize(batch):
    return {"inputs": _image_ops.normalize(batch["inputs"], imagenet.MEAN, imagenet.STD),
            "targets": batch["targets"]}


def grain_batches(data_dir, data, workers, batch_size):
    import grain
    import tensorflow_datasets as tfds
    from absl import flags

    flags.FLAGS.mark_as_parsed()  # grain reads absl flags; this script defines none
    source = tfds.data_source("imagenet2012", split="train", data_dir=data_dir, download=False)
    dataset = (grain.MapDataset.source(source).shuffle(seed=0).repeat()
               .random_map(Preprocess(data), seed=0).batch(batch_size).map(normalize))
    iterable = dataset.to_iter_dataset().mp_prefetch(
        grain.MultiprocessingOptions(num_workers=workers, per_worker_buffer_size=1))
    return iter(iterable)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=5, help="batches per loader per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--randaugment", action="store_true", help="ViT's preprocessing")
    args = parser.parse_args()
    data = imagenet.VIT_DATA if args.randaugment else imagenet.RESNET_DATA
    print(f"{os.cpu_count()} cores; {args.images} synthetic JPEGs; batches of {args.batch_size}; "
          f"{'ViT (RandAugment)' if args.randaugment else 'ResNet'} preprocessing")
    with tempfile.TemporaryDirectory() as data_dir:
        write_dataset(data_dir, args.images)
        print(f"{'workers':>7} {'threads img/s':>13} {'grain img/s':>11} {'per core':>17} "
              f"{'grain / threads':>22}")
        for workers in args.workers:
            rates = {"threads": [], "grain": []}
            for _ in range(args.rounds):  # alternate, so both see the same machine load
                for name, make in (("threads", thread_batches), ("grain", grain_batches)):
                    batches = make(data_dir, data, workers, args.batch_size)
                    for _ in range(workers):  # warm-up: every thread or worker process started
                        next(batches)
                    rates[name].append(rate(batches, args.batches))
                    del batches  # stops grain's workers: nothing runs during the other's turn
            ratios = [g / t for g, t in zip(rates["grain"], rates["threads"])]
            low, mid, high = quartiles(ratios)
            threads, grain = (statistics.median(rates[name]) for name in ("threads", "grain"))
            print(f"{workers:7d} {threads:13.0f} {grain:11.0f} "
                  f"{threads / workers:8.0f} {grain / workers:8.0f} "
                  f"{mid:8.2f} (IQR {low:.2f}-{high:.2f})")

if __name__ == "__main__":
    main()
