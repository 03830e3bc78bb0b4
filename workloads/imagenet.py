"""ImageNet (ILSVRC 2012, Russakovsky et al. 2015) with ResNet-50 and ViT-S/16: full tier.

AlgoPerf's `imagenet_resnet` and `imagenet_vit` workloads (Dahl et al. 2023, arXiv 2306.07179):
1000 classes; training on the 1,281,167 images of the tfds `imagenet2012` train split,
validation on its 50,000 validation images, test on ImageNet-v2 (tfds
`imagenet_v2/matched-frequency`, 10,000 images). Both datasets must be prepared in the
array_record format (ImageNet needs a manual download; see `DatasetNotPreparedError`'s message).

Input pipeline (host, numpy + PIL; see `workloads._image_ops`). Training batches come from a
grain pipeline (`workloads._grain`) in worker processes: each worker reads examples from the
ArrayRecord files, decodes them (tfds), crops and resizes them to 224x224, normalises them with
the ImageNet mean and standard deviation and stacks its batches. The order and the augmentation
are a function of the trial seed alone (not of the number of workers), and `skip(n)` resumes at
batch n without decoding the skipped ones. Workers: one per available core but one, or
`ImagenetDataConfig.num_workers`, or $BENCH_DATA_WORKERS (0: build batches in the training
process). Worker processes replaced a pool of threads in the training process, which did not
scale past one core (benchmarks/imagenet_pipeline.py; README, "Input pipeline"). Evaluation
batches are read by a pool of threads and prepared ahead on a background thread.
Training: random-area crop + flip; ViT also RandAugment (2 layers, magnitude 10) and mixup
(alpha 0.2, one weight per batch), as in AlgoPerf. Evaluation: the central 224/256 crop.

Models (sized by a config, so tests can use tiny ones): ResNet-50 v1.5 (`workloads._resnet`,
25.6M parameters), trained with label smoothing 0.2 (the value of AlgoPerf's target-setting
run), and ViT-S/16 (`workloads._vit`, 22.1M parameters) without label smoothing.

Targets, step hints and budgets are AlgoPerf's: validation accuracy 0.77431 (ResNet-50) and
0.77309 (ViT), test accuracy 0.6560 and 0.6519. `imagenet` is another name for imagenet_resnet.

Held-out variants (AlgoPerf v0.5), each with its own targets: imagenet_resnet_silu and
imagenet_resnet_gelu (another activation; batch size 512 as in AlgoPerf's baseline),
imagenet_resnet_large_bn_init (residual branches' last batch-norm scale starts at 8), and
imagenet_vit_glu, imagenet_vit_post_ln, imagenet_vit_map (see `workloads._vit`).
`fake(model_size)` streams random images of ImageNet's sizes through the same preprocessing.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Iterator

import flax.linen as nn
import numpy as np

from bench.workload import Batch, WorkloadSpec
from workloads import _grain, _image_ops, _pipeline, _resnet, _synthetic, _tfds, _vit
from workloads._image_classification import ImageClassificationWorkload
from workloads._resnet import RESNET50, ResNet, ResNetConfig
from workloads._vit import VIT_S16, ViT, ViTConfig

MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
NUM_CLASSES = 1000
TRAIN_BUILDER = "imagenet2012"
TEST_BUILDER = "imagenet_v2/matched-frequency"
MANUAL_DOWNLOAD_NOTE = (
    "ImageNet cannot be downloaded automatically: put ILSVRC2012_img_train.tar and "
    "ILSVRC2012_img_val.tar from https://image-net.org into {data_dir}/downloads/manual first"
)


@dataclasses.dataclass(frozen=True)
class ImagenetDataConfig:
    image_size: int = 224
    crop_fraction: float = 224 / 256  # evaluation: central crop of this fraction of the short side
    randaugment_layers: int = 0  # 0: no RandAugment
    randaugment_magnitude: float = 10.0
    mixup_alpha: float | None = None  # None: no mixup
    num_workers: int | None = None  # training: grain worker processes (`_grain.worker_count`)
    eval_threads: int | None = None  # evaluation: decoding threads; None: one per core
    chunk_size: int = 32  # evaluation examples per task handed to a thread
    eval_prefetch_depth: int = 2  # evaluation batches built ahead (the runner prefetches training)
    eval_batch_size: int = 1024


RESNET_DATA = ImagenetDataConfig()
VIT_DATA = ImagenetDataConfig(randaugment_layers=2, mixup_alpha=0.2, eval_batch_size=2048)


def train_image(example, rng: np.random.Generator, data: ImagenetDataConfig) -> np.ndarray:
    """One training image (uint8 [size, size, 3]): random crop and flip, RandAugment if set."""
    image = _image_ops.train_crop(
        _image_ops.as_rgb_image(example["image"]), data.image_size, rng, data.crop_fraction
    )
    if data.randaugment_layers:
        image = _image_ops.randaugment(
            image, rng, data.randaugment_layers, data.randaugment_magnitude
        )
    return np.asarray(image)


class TrainPreprocess:
    """One training example as the model takes it: {"inputs": normalised float32 image,
    "targets": int32 label}. Picklable, for grain's worker processes."""

    def __init__(self, data: ImagenetDataConfig):
        self.data = data

    def __call__(self, example, rng: np.random.Generator) -> dict[str, np.ndarray]:
        image = train_image(example, rng, self.data)
        return {"inputs": _image_ops.normalize(image, MEAN, STD),
                "targets": np.int32(example["label"])}


class MixupWeights:
    """Adds a batch's mixup weights (one Beta(alpha, alpha) draw, `_image_ops.mixup_weights`)."""

    def __init__(self, alpha: float):
        self.alpha = alpha

    def __call__(self, batch: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
        weights = _image_ops.mixup_weights(len(batch["targets"]), rng, self.alpha)
        return {**batch, "mixup_weights": weights}


class ImagenetWorkload(ImageClassificationWorkload):
    """ImageNet classification streamed from ArrayRecord files; the model varies."""

    def __init__(
        self,
        spec: WorkloadSpec,
        model: nn.Module,
        *,
        num_classes: int = NUM_CLASSES,
        data: ImagenetDataConfig = RESNET_DATA,
        label_smoothing: float = 0.0,
        tiny_model: nn.Module | None = None,
    ):
        super().__init__(
            spec,
            model,
            input_shape=(data.image_size, data.image_size, 3),
            num_classes=num_classes,
            label_smoothing=label_smoothing,
            eval_batch_size=data.eval_batch_size,
            tiny_model=tiny_model,
        )
        self.data = data
        self._sources: dict | None = None
        self._loaded_from: str | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.open_split = _tfds.open_split  # a `_synthetic.SyntheticDataset` in a fake copy

    def fake(self, model_size: str = "tiny") -> ImagenetWorkload:
        """This workload on random images of ImageNet's sizes, through the real preprocessing."""
        batch_size = _synthetic.fake_batch_size(self.spec, model_size)
        return _synthetic.synthetic_copy(
            self, model_size,
            model=self.fake_model(model_size),
            data=dataclasses.replace(self.data, eval_batch_size=batch_size),
            eval_batch_size=batch_size,
            open_split=_synthetic.SyntheticDataset(
                _synthetic.split_sizes(batch_size),
                _synthetic.imagenet_like_images(self.num_classes),
            ),
            _sources=None, _loaded_from=None, _pool=None,
        )

    def load(self, data_dir: str | None = None) -> None:
        if self._sources is not None and self._loaded_from == data_dir:
            return
        opened = {
            split: self.open_split(
                TRAIN_BUILDER, split, data_dir=data_dir, workload=self.name,
                note=MANUAL_DOWNLOAD_NOTE,
            )
            for split in ("train", "validation")
        }
        opened["test"] = self.open_split(
            TEST_BUILDER, "test", data_dir=data_dir, workload=self.name
        )
        self._sources, self._loaded_from = opened, data_dir

    def _source(self, split: str):
        if self._sources is None:
            raise RuntimeError(f"workload {self.name}: call load() first")
        return self._sources[split]

    @property
    def num_train_examples(self) -> int:
        return len(self._source("train"))

    def _eval_threads(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            workers = self.data.eval_threads or _grain.available_cores()
            self._pool = concurrent.futures.ThreadPoolExecutor(workers, "bench-imagenet")
        return self._pool

    # ------------------------------------------------------------------- preprocessing

    def _eval_image(self, example) -> np.ndarray:
        image = _image_ops.as_rgb_image(example["image"])
        cropped = _image_ops.eval_crop(image, self.data.image_size, self.data.crop_fraction)
        return np.asarray(cropped)

    def _eval_chunk(self, source, indices) -> tuple[np.ndarray, np.ndarray]:
        """Read, crop and normalise a few evaluation examples (runs in a pool thread)."""
        examples = _tfds.read_examples(source, indices)
        images = np.stack([self._eval_image(example) for example in examples])
        labels = np.asarray([example["label"] for example in examples], np.int32)
        return _image_ops.normalize(images, MEAN, STD), labels

    def _eval_batch(self, source, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of `index`, read in parallel chunks, in order."""
        size = self.data.chunk_size
        futures = [self._eval_threads().submit(self._eval_chunk, source, index[start:start + size])
                   for start in range(0, len(index), size)]
        parts = [future.result() for future in futures]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def train_batches(self, batch_size: int, seed: int) -> _grain.GrainBatches:
        """Endless training batches in an order fixed by `seed` (see `workloads._grain`)."""
        batches = _grain.training_batches(
            self._source("train"), TrainPreprocess(self.data), batch_size, seed)
        if self.data.mixup_alpha:  # the loss mixes the batch with these weights
            batches = batches.random_map(MixupWeights(self.data.mixup_alpha))
        return _grain.GrainBatches(batches, _grain.worker_count(self.data.num_workers))

    def eval_batches(self, split: str) -> Iterator[Batch]:
        source = self._source(split)

        def batches():
            for index, mask in _pipeline.eval_index_batches(len(source), self.eval_batch_size):
                images, labels = self._eval_batch(source, index)
                yield {"inputs": images, "targets": labels, "mask": mask}

        return _pipeline.prefetch(batches(), self.data.eval_prefetch_depth)


def resnet_workload(
    spec: WorkloadSpec,
    model_config: ResNetConfig = RESNET50,
    data: ImagenetDataConfig = RESNET_DATA,
    label_smoothing: float = 0.2,
) -> ImagenetWorkload:
    return ImagenetWorkload(
        spec, ResNet(model_config), num_classes=model_config.num_classes, data=data,
        label_smoothing=label_smoothing, tiny_model=ResNet(_resnet.tiny(model_config)),
    )


def vit_workload(
    spec: WorkloadSpec,
    model_config: ViTConfig = VIT_S16,
    data: ImagenetDataConfig = VIT_DATA,
    label_smoothing: float = 0.0,
) -> ImagenetWorkload:
    return ImagenetWorkload(
        spec, ViT(model_config), num_classes=model_config.num_classes, data=data,
        label_smoothing=label_smoothing, tiny_model=ViT(_vit.tiny(model_config)),
    )


_BUDGET_NOTE = (
    "Targets are AlgoPerf v0.5's (validation {val}, test {test} on ImageNet-v2). Step hint "
    "{hint:,} and budget {budget:,} s are the values AlgoPerf adopted in 2025 together with those "
    "step hints (the v0.5.0 release had step hint 186,666 and budget {old:,} s); AlgoPerf's "
    "budgets are for 8 NVIDIA V100 GPUs. Batch size 1024 (AlgoPerf's baseline)."
)

IMAGENET_RESNET_SPEC = WorkloadSpec(
    name="imagenet_resnet",
    tier="full",
    dataset="ImageNet-1k (tfds imagenet2012; test: imagenet_v2)",
    model="ResNet-50",
    target_metric="accuracy",
    validation_target=0.77431,
    test_target=0.6560,
    higher_is_better=True,
    step_hint=195_999,
    max_runtime=66_159.0,
    eval_period=510.0,
    batch_size=1024,
    description="ImageNet with ResNet-50 (AlgoPerf's imagenet_resnet)",
    calibration=_BUDGET_NOTE.format(
        val=0.77431, test=0.6560, hint=195_999, budget=66_159, old=63_008
    ),
)

IMAGENET_VIT_SPEC = dataclasses.replace(
    IMAGENET_RESNET_SPEC,
    name="imagenet_vit",
    model="ViT-S/16",
    validation_target=0.77309,
    test_target=0.6519,
    step_hint=167_999,
    max_runtime=69_768.0,
    eval_period=420.0,
    description="ImageNet with ViT-S/16, RandAugment and mixup (AlgoPerf's imagenet_vit)",
    calibration=_BUDGET_NOTE.format(
        val=0.77309, test=0.6519, hint=167_999, budget=69_768, old=77_520
    ),
)

IMAGENET_RESNET = resnet_workload(IMAGENET_RESNET_SPEC)
IMAGENET_VIT = vit_workload(IMAGENET_VIT_SPEC)


def variant_spec(base: WorkloadSpec, name: str, validation: float, test: float, model: str,
                 **changes) -> WorkloadSpec:
    """A held-out variant of `base`: its own targets (AlgoPerf v0.5's), the base's rules."""
    return dataclasses.replace(
        base, name=name, validation_target=validation, test_target=test, model=model,
        variant_of=base.name, description=f"{base.name}'s held-out variant {name} (AlgoPerf v0.5)",
        calibration=(
            f"Targets are AlgoPerf v0.5's for {name} (validation accuracy {validation}, test "
            f"{test}; algoperf/workloads/{base.name}/imagenet_jax/workload.py); step hint and "
            f"budget are {base.name}'s"
            + (f"; batch size {changes['batch_size']} is that of AlgoPerf's NadamW baseline"
               if "batch_size" in changes else "")
            + "."
        ),
        **changes,
    )


# AlgoPerf's baseline trains the SiLU and GELU ResNets at batch size 512.
IMAGENET_RESNET_SILU = resnet_workload(
    variant_spec(IMAGENET_RESNET_SPEC, "imagenet_resnet_silu", 0.75445, 0.6323,
                 "ResNet-50, SiLU", batch_size=512),
    dataclasses.replace(RESNET50, activation="silu"),
)
IMAGENET_RESNET_GELU = resnet_workload(
    variant_spec(IMAGENET_RESNET_SPEC, "imagenet_resnet_gelu", 0.76765, 0.6519,
                 "ResNet-50, GELU", batch_size=512),
    dataclasses.replace(RESNET50, activation="gelu"),
)
IMAGENET_RESNET_LARGE_BN_INIT = resnet_workload(
    variant_spec(IMAGENET_RESNET_SPEC, "imagenet_resnet_large_bn_init", 0.76526, 0.6423,
                 "ResNet-50, last batch-norm scales start at 8"),
    dataclasses.replace(RESNET50, last_bn_scale=8.0),
)
IMAGENET_VIT_GLU = vit_workload(
    variant_spec(IMAGENET_VIT_SPEC, "imagenet_vit_glu", 0.75738, 0.6359, "ViT-S/16, GLU MLP"),
    dataclasses.replace(VIT_S16, glu=True),
)
IMAGENET_VIT_POST_LN = vit_workload(
    variant_spec(IMAGENET_VIT_SPEC, "imagenet_vit_post_ln", 0.75312, 0.6286,
                 "ViT-S/16, post-LayerNorm"),
    dataclasses.replace(VIT_S16, post_ln=True),
)
IMAGENET_VIT_MAP = vit_workload(
    variant_spec(IMAGENET_VIT_SPEC, "imagenet_vit_map", 0.77113, 0.6523,
                 "ViT-S/16, attention-pooling head"),
    dataclasses.replace(VIT_S16, map_head=True),
)

WORKLOADS = [
    IMAGENET_RESNET, IMAGENET_VIT, IMAGENET_RESNET_SILU, IMAGENET_RESNET_GELU,
    IMAGENET_RESNET_LARGE_BN_INIT, IMAGENET_VIT_GLU, IMAGENET_VIT_POST_LN, IMAGENET_VIT_MAP,
]
# `imagenet` is another name for imagenet_resnet: the same workload, recorded and scored once.
ALIASES = {"imagenet": "imagenet_resnet"}
