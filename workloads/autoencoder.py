"""A deep autoencoder on the 8x8 digits: the classic optimisation benchmark, scaled down (cpu tier).

Hinton & Salakhutdinov 2006, "Reducing the Dimensionality of Data with Neural Networks" (Science
313:504), trained a deep autoencoder (784-1000-500-250-30 and its mirror image, logistic hidden
units, a linear code layer, logistic outputs) on MNIST; that problem became a standard test of
optimisers for ill-conditioned deep networks (Martens 2010, "Deep learning via Hessian-free
optimization"; Martens & Grosse 2015, "Optimizing Neural Networks with Kronecker-factored
Approximate Curvature", arXiv 1503.05671), which minimise the same objective: the logistic
(binary) cross-entropy between the pixel intensities in [0, 1] and the reconstruction.

Here the same recipe runs on scikit-learn's 8x8 digits (`workloads.digits`: the same fixed
1,197/300/300 split; pixels scaled to [0, 1], not standardised, as the logistic loss needs):
encoder 64-256-128-64-8 with logistic hidden units and a linear 8-unit code, decoder mirrored,
logistic outputs (about 117k parameters). The training loss is the cross-entropy summed over the
64 pixels, averaged over images. The target metric is the validation squared reconstruction
error per image (summed over pixels, averaged over images; the measure Hinton & Salakhutdinov
report), lower is better. No label is used.

What it asks of an optimiser: a regression objective through a narrow bottleneck and saturating
units, with an early plateau where every image is reconstructed as the mean training image
(squared error 4.68) before the code starts to carry information.
"""

from __future__ import annotations

from collections.abc import Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.workload import Batch, Workload, WorkloadSpec
from workloads import _pipeline
from workloads.digits import SPLIT_SIZES, load_digits_splits
from workloads import targets

NUM_PIXELS = 64


class DeepAutoencoder(nn.Module):
    """Logistic hidden layers down to a linear code, mirrored back up; returns pixel logits."""

    encoder_widths: tuple[int, ...] = (256, 128, 64)
    code_size: int = 8

    @nn.compact
    def __call__(self, x):
        for width in self.encoder_widths:
            x = nn.sigmoid(nn.Dense(width)(x))
        x = nn.Dense(self.code_size, name="code")(x)
        for width in reversed(self.encoder_widths):
            x = nn.sigmoid(nn.Dense(width)(x))
        return nn.Dense(NUM_PIXELS)(x)


class DigitsAutoencoderWorkload(Workload):
    """Reconstruct 8x8 digits through a small code; target: validation squared error."""

    def __init__(self, spec: WorkloadSpec, model: nn.Module, eval_batch_size: int = 300):
        self.spec = spec
        self.model = model
        self.eval_batch_size = eval_batch_size
        self._data: dict[str, dict[str, np.ndarray]] | None = None

    def load(self, data_dir: str | None = None) -> None:
        if self._data is None:
            self._data = {
                split: {"inputs": arrays["images"].reshape(-1, NUM_PIXELS)}
                for split, arrays in load_digits_splits().items()
            }

    @property
    def num_train_examples(self) -> int:
        return SPLIT_SIZES["train"]

    def _split(self, split: str) -> dict[str, np.ndarray]:
        if self._data is None:
            raise RuntimeError(f"workload {self.name}: call load() first")
        return self._data[split]

    def init(self, rng):
        if not hasattr(self, "_jitted_init"):  # compiled once: faster than flax's op-by-op init
            self._jitted_init = jax.jit(self.model.init)
        params = self._jitted_init(rng, jnp.zeros((1, NUM_PIXELS), jnp.float32))["params"]
        return params, {}

    def _pixel_losses(self, params, inputs):
        """Per-image cross-entropy and squared error, each summed over the pixels."""
        logits = self.model.apply({"params": params}, inputs)
        cross_entropy = optax.sigmoid_binary_cross_entropy(logits, inputs).sum(axis=-1)
        squared_error = jnp.sum((jax.nn.sigmoid(logits) - inputs) ** 2, axis=-1)
        return cross_entropy, squared_error

    def loss(self, params, model_state, batch: Batch, rng, train: bool):
        cross_entropy, _ = self._pixel_losses(params, batch["inputs"])
        return cross_entropy.mean(), model_state

    def train_batches(self, batch_size: int, seed: int) -> Iterator[Batch]:
        return _pipeline.ShuffledArrays(self._split("train"), batch_size, seed)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        data = self._split(split)
        for index, mask in _pipeline.eval_index_batches(len(data["inputs"]), self.eval_batch_size):
            yield {"inputs": data["inputs"][index], "mask": mask}

    def eval_sums(self, params, model_state, batch: Batch):
        cross_entropy, squared_error = self._pixel_losses(params, batch["inputs"])
        mask = batch["mask"]
        return {
            "loss": jnp.sum(cross_entropy * mask),
            "squared_error": jnp.sum(squared_error * mask),
            "count": jnp.sum(mask),
        }


DIGITS_AUTOENCODER = DigitsAutoencoderWorkload(
    WorkloadSpec(
        name="digits_autoencoder",
        tier="cpu",
        dataset="scikit-learn digits 8x8 (1,197/300/300), pixels in [0, 1]",
        model="deep autoencoder 64-256-128-64-8 and mirror, logistic units",
        target_metric="squared_error",
        test_target=None,
        higher_is_better=False,
        eval_period=0.5,
        batch_size=64,
        description="Deep logistic autoencoder on 8x8 digits (Hinton & Salakhutdinov's recipe)",
        **targets.spec_fields("digits_autoencoder"),
    ),
    DeepAutoencoder(),
)

WORKLOADS = [DIGITS_AUTOENCODER]
