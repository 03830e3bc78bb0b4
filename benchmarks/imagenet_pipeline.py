"""ImageNet training input pipeline: images per second per core, grain workers against threads.

A synthetic ImageNet is written as a tfds `imagenet2012` dataset in the array_record format
(through tfds's builder, as `tfds build` writes it): JPEG images (quality 90) of ImageNet's
size distribution (`workloads._synthetic.imagenet_like_size`: mostly 500x375, longer side at
most 500 pixels), with smooth content (a random 8x8 colour field upscaled, plus uniform noise
of +-48) so that they compress like photographs (100 kB on average). Both loaders read the
same files with `tfds.data_source` (which decodes the JPEGs) and apply the same per-example
preprocessing (`workloads.imagenet.TrainPreprocess`: random-area crop, flip, bicubic resize to
224, for ViT also RandAugment; normalised), and stack batches:

- grain: the workload's loader (`ImagenetWorkload.train_batches`, `workloads._grain`), with
  `workers` worker processes;
- threads: the loader it replaced, a pool of `workers` threads in the training process, each
  preprocessing chunks of 32 examples of the batch (`thread_pool_batches` below).

For each number of workers, in each of `rounds` rounds, each loader in turn is started, reads
one warm-up batch per worker (grain's worker processes take a second or more to start), then
`batches` batches of `batch_size` (grain's workers hold one batch each ready), and is
stopped; alternating rounds let both see the same machine load. The table gives median images
per second, per core (the rate divided by the workers: each worker can use one core; on a
machine with fewer free cores than workers the per-core figure is too low), and the median of
the per-round ratios grain / threads with its interquartile range.
Heavy: run it alone (`flock /tmp/cpu.lock python benchmarks/imagenet_pipeline.py`).

    python benchmarks/imagenet_pipeline.py [--images 192] [--batch-size 32] [--batches 5]
                                           [--rounds 3] [--workers 1 2] [--randaugment]
"""

from __future__ import annotations

import argparse
import concurrent.futures
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

from workloads import _pipeline, _synthetic, imagenet  # noqa: E402


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


def workload_on(data_dir, data, workers):
    """ImageNet's ResNet workload reading the synthetic train split (for every split)."""
    workload = imagenet.ImagenetWorkload(
        imagenet.IMAGENET_RESNET_SPEC, imagenet.IMAGENET_RESNET.model,
        data=dataclasses.replace(data, num_workers=workers))
    source = workload.open_split(imagenet.TRAIN_BUILDER, "train", data_dir=data_dir, workload="")
    workload.open_split = lambda *args, **kwargs: source
    workload.load(data_dir)
    return workload, source


def grain_batches(data_dir, data, workers, batch_size):
    workload, _ = workload_on(data_dir, data, workers)
    return workload.train_batches(batch_size, seed=0)


def thread_pool_batches(data_dir, data, workers, batch_size, chunk=32):
    """The loader grain replaced: `workers` threads preprocess chunks of each batch."""
    _, source = workload_on(data_dir, data, workers)
    preprocess = imagenet.TrainPreprocess(data)
    pool = concurrent.futures.ThreadPoolExecutor(workers)

    def build(number, indices):
        rng = _pipeline.batch_rng(0, number)
        return [preprocess(source[int(i)], rng) for i in indices]

    def batches():
        index_batches = _pipeline.shuffled_index_batches(len(source), batch_size, seed=0)
        for number, index in enumerate(index_batches):
            parts = [pool.submit(build, number, index[start:start + chunk])
                     for start in range(0, batch_size, chunk)]
            examples = [example for part in parts for example in part.result()]
            yield {key: np.stack([example[key] for example in examples]) for key in examples[0]}

    return batches()


def stop(batches) -> None:
    """Stop a loader, so that nothing runs during the other's turn."""
    if hasattr(batches, "close"):
        batches.close()


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
                for name, make in (("threads", thread_pool_batches), ("grain", grain_batches)):
                    batches = make(data_dir, data, workers, args.batch_size)
                    for _ in range(workers):  # warm-up: every thread or worker process started
                        next(batches)
                    rates[name].append(rate(batches, args.batches))
                    stop(batches)
            ratios = [g / t for g, t in zip(rates["grain"], rates["threads"])]
            low, mid, high = quartiles(ratios)
            threads, grain = (statistics.median(rates[name]) for name in ("threads", "grain"))
            print(f"{workers:7d} {threads:13.0f} {grain:11.0f} "
                  f"{threads / workers:8.0f} {grain / workers:8.0f} "
                  f"{mid:8.2f} (IQR {low:.2f}-{high:.2f})")

if __name__ == "__main__":
    main()
