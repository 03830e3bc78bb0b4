"""Image classification on tfds data: the model side, and the pipeline for datasets held in memory.

`ImageClassificationWorkload` is the model side shared by the MNIST, CIFAR and ImageNet
workloads: a Flax model called as `model(inputs, train=...)` whose batch-norm statistics (if any)
are the workload's model state, a softmax cross-entropy loss with optional label smoothing and
mixup (a batch with `mixup_weights` is mixed inside the loss, on the accelerator), and
evaluation sums of loss and accuracy weighted by the batch's "mask" (padding has mask 0).
Evaluation uses the running batch statistics; the evaluation loss has no label smoothing.

`InMemoryImageWorkload` adds the data side for datasets small enough to decode once into memory
(MNIST, Fashion-MNIST, CIFAR-10): the tfds "train" split is cut into training examples and the
last `num_validation` examples as the validation split (as AlgoPerf does), the tfds "test" split
is the test split. Decoded splits are cached on disk (`workloads._tfds.cached_arrays`). Images
stay uint8 in memory; each batch is gathered, augmented (a hook) and normalised to float32 when
it is asked for (the runner asks from its prefetch thread).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.workload import Batch, Workload, WorkloadSpec
from workloads import _pipeline, _synthetic, _tfds
from workloads._image_ops import normalize


def count_parameters(params) -> int:
    return int(sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(params)))


def mix_partner(array):
    """Mixup partners: example i is mixed with example i-1 (example 0 with the last)."""
    return jnp.roll(array, 1, axis=0)


def mix(inputs, weights):
    """Mixup of a batch: w_i x_i + (1 - w_i) x_{i-1} (Zhang et al. 2017, arXiv 1710.09412)."""
    w = weights.reshape((-1,) + (1,) * (inputs.ndim - 1)).astype(inputs.dtype)
    return w * inputs + (1.0 - w) * mix_partner(inputs)


class ImageClassificationWorkload(Workload):
    """Model, loss and metrics of a classifier; subclasses provide the data."""

    def __init__(
        self,
        spec: WorkloadSpec,
        model: nn.Module,
        *,
        input_shape: tuple[int, int, int],
        num_classes: int,
        label_smoothing: float = 0.0,
        eval_batch_size: int = 1024,
        tiny_model: nn.Module | None = None,
    ):
        self.spec = spec
        self.model = model
        self.tiny_model = tiny_model  # the same family, small: for `fake("tiny")`
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.eval_batch_size = eval_batch_size

    # ---------------------------------------------------------------------------- model

    def init(self, rng):
        params_rng, dropout_rng = jax.random.split(rng)
        dummy = jnp.zeros((1, *self.input_shape), jnp.float32)
        if not hasattr(self, "_jitted_init"):  # compiled once per workload: faster than op by op
            self._jitted_init = jax.jit(functools.partial(self.model.init, train=False))
        variables = dict(self._jitted_init({"params": params_rng, "dropout": dropout_rng}, dummy))
        params = variables.pop("params")
        return params, variables  # model state: batch statistics, or {} without batch norm

    def fake_model(self, model_size: str) -> nn.Module:
        """The model of a fake copy: this one at "full" size, `tiny_model` at "tiny"."""
        if _synthetic.check_model_size(model_size) == "full":
            return self.model
        if self.tiny_model is None:
            raise NotImplementedError(f"workload {self.name} has no tiny model")
        return self.tiny_model

    def num_parameters(self) -> int:
        """Number of trainable parameters (from shapes only; nothing is initialised)."""
        params, _ = jax.eval_shape(self.init, jax.random.key(0))
        return count_parameters(params)

    def logits(self, params, model_state, inputs, *, train: bool, rng=None):
        """Logits and the new model state (batch statistics are updated only when training)."""
        variables = {"params": params, **model_state}
        rngs = {"dropout": rng} if rng is not None else {}
        if train and model_state:
            logits, updates = self.model.apply(
                variables, inputs, train=True, rngs=rngs, mutable=list(model_state)
            )
            return logits, {**model_state, **updates}
        return self.model.apply(variables, inputs, train=train, rngs=rngs), model_state

    def _cross_entropy(self, logits, targets, smoothing: float):
        one_hot = jax.nn.one_hot(targets, self.num_classes, dtype=logits.dtype)
        if smoothing:
            one_hot = optax.smooth_labels(one_hot, smoothing)
        return optax.softmax_cross_entropy(logits, one_hot)

    def loss(self, params, model_state, batch: Batch, rng, train: bool):
        inputs = batch["inputs"]
        if "mixup_weights" in batch:
            inputs = mix(inputs, batch["mixup_weights"])
        logits, model_state = self.logits(params, model_state, inputs, train=train, rng=rng)
        losses = self._cross_entropy(logits, batch["targets"], self.label_smoothing)
        if "mixup_weights" in batch:
            weights = batch["mixup_weights"]
            partners = mix_partner(batch["targets"])
            previous = self._cross_entropy(logits, partners, self.label_smoothing)
            losses = weights * losses + (1.0 - weights) * previous
        return losses.mean(), model_state

    def eval_sums(self, params, model_state, batch: Batch):
        logits, _ = self.logits(params, model_state, batch["inputs"], train=False)
        mask = batch["mask"]
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["targets"])
        correct = (jnp.argmax(logits, axis=-1) == batch["targets"]).astype(jnp.float32)
        return {
            "loss": jnp.sum(losses * mask),
            "accuracy": jnp.sum(correct * mask),
            "count": jnp.sum(mask),
        }


class InMemoryImageWorkload(ImageClassificationWorkload):
    """An image classification workload whose tfds dataset is decoded once into memory."""

    def __init__(
        self,
        spec: WorkloadSpec,
        model: nn.Module,
        *,
        builder: str,
        num_validation: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        **kwargs,
    ):
        super().__init__(spec, model, **kwargs)
        self.builder = builder
        self.num_validation = num_validation
        self.mean = mean  # pixel units (0-255), per channel
        self.std = std
        self._data: dict[str, dict[str, np.ndarray]] | None = None
        self._loaded_from: str | None = None
        self.open_split = _tfds.open_split  # a `_synthetic.SyntheticDataset` in a fake copy

    def fake(self, model_size: str = "tiny") -> InMemoryImageWorkload:
        """This workload on random images and labels of the true shapes (see `_synthetic`)."""
        batch_size = _synthetic.fake_batch_size(self.spec, model_size)
        sizes = _synthetic.split_sizes(batch_size)
        return _synthetic.synthetic_copy(
            self, model_size,
            model=self.fake_model(model_size),
            num_validation=sizes.pop("validation"),
            eval_batch_size=batch_size,
            open_split=_synthetic.SyntheticDataset(
                {"train": sizes["train"] + sizes["test"], "test": sizes["test"]},
                _synthetic.labelled_images(self.input_shape, self.num_classes),
            ),
            _data=None, _loaded_from=None,
        )

    def load(self, data_dir: str | None = None) -> None:
        if self._data is not None and self._loaded_from == data_dir:
            return
        convert = {"inputs": ("image", np.uint8), "targets": ("label", np.int32)}
        opened = {
            split: self.open_split(self.builder, split, data_dir=data_dir, workload=self.name)
            for split in ("train", "test")
        }
        num_train = len(opened["train"]) - self.num_validation
        if num_train < 1:
            raise _tfds.DatasetNotPreparedError(
                f"workload {self.name}: the tfds {self.builder!r} train split under "
                f"{data_dir or _tfds.default_data_dir()} has {len(opened['train'])} examples, "
                f"fewer than the {self.num_validation + 1} needed ({self.num_validation} are held "
                f"out for validation); prepare the full dataset with "
                f"`{_tfds.build_command(self.builder, data_dir)}`"
            )
        arrays = {
            split: _tfds.cached_arrays(
                source, split, "image-label-v1", lambda s=source: _tfds.read_arrays(s, convert)
            )
            for split, source in opened.items()
        }
        data = {
            "train": {key: value[:num_train] for key, value in arrays["train"].items()},
            "validation": {key: value[num_train:] for key, value in arrays["train"].items()},
            "test": arrays["test"],
        }
        for split in data.values():  # images as [n, height, width, channels]
            if split["inputs"].ndim == 3:
                split["inputs"] = split["inputs"][..., None]
        self._data, self._loaded_from = data, data_dir

    def _split(self, split: str) -> dict[str, np.ndarray]:
        if self._data is None:
            raise RuntimeError(f"workload {self.name}: call load() first")
        return self._data[split]

    @property
    def num_train_examples(self) -> int:
        return len(self._split("train")["targets"])

    def augment(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Training augmentation of a uint8 batch [n, h, w, c]; none by default."""
        return images

    def train_batches(self, batch_size: int, seed: int) -> Iterator[Batch]:
        data = self._split("train")
        index_batches = _pipeline.shuffled_index_batches(len(data["targets"]), batch_size, seed)

        def make_batch(number: int, index: np.ndarray) -> Batch:
            images = self.augment(data["inputs"][index], _pipeline.batch_rng(seed, number))
            return {
                "inputs": normalize(images, self.mean, self.std),
                "targets": data["targets"][index],
            }

        return _pipeline.BatchStream(index_batches, make_batch)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        data = self._split(split)
        for index, mask in _pipeline.eval_index_batches(len(data["targets"]), self.eval_batch_size):
            yield {
                "inputs": normalize(data["inputs"][index], self.mean, self.std),
                "targets": data["targets"][index],
                "mask": mask,
            }
