"""fastMRI knee single-coil reconstruction with a U-Net: full tier, AlgoPerf's `fastmri` workload.

Data: the fastMRI knee single-coil dataset (Zbontar et al. 2018, "fastMRI: An Open Dataset and
Benchmarks for Accelerated MRI", arXiv 1811.08839), one HDF5 file per volume with the k-space
of each slice ("kspace", [640, W] complex) and its reference reconstruction
("reconstruction_esc", [320, 320]) and the volume's maximum (attribute "max"). As in AlgoPerf
(algoperf/workloads/fastmri/input_pipeline.py): training on knee_singlecoil_train (34,742
slices); validation on the first 100 files of knee_singlecoil_val in name order (3,554 slices),
test on the other 99 (3,581).

Preprocessing (`bench prepare fastmri --raw DIR --data-dir DIR`, see `prepare`), AlgoPerf's, per
slice: a 4x-accelerated k-space mask keeps the central 8% of the W columns (int(0.08 W), starting
at (W - int(0.08 W) + 1) // 2) and each other column with probability (W/4 - n_low) / (W - n_low);
the masked k-space's orthonormal inverse 2-D FFT (centred: ifftshift, ifft2, fftshift) is cropped
to the central 320 x 320; its magnitude |x| gives the input (|x| - mean) / std and the target
(reconstruction - mean) / std, both clipped to [-6, 6], with mean and std (population) of |x|.
AlgoPerf draws each training slice's mask from a seed of its position in the stream and every
evaluation slice's from one fixed seed; here each slice's mask comes from a generator seeded
with (split, file number, slice number), evaluation masks from the seed 0 alone: the masks
differ, their distribution does not. Prepared splits are numpy arrays per raw file under
<data dir>/fastmri/<split>/, read memory-mapped.

Model (`UNetConfig`; Ronneberger et al. 2015, "U-Net", arXiv 1505.04597), AlgoPerf's
(algoperf/workloads/fastmri/fastmri_jax/models.py): `num_pool_layers` (4) down-sampling conv
blocks from 32 channels doubling each time, each followed by 2x2 average pooling, a bottom block
of 512 channels, then as many up-sampling steps (2x2 stride-2 transposed convolution halving the
channels, instance norm, activation; concatenation with the skip connection; a conv block) and
a 1x1 convolution to one channel. A conv block is twice: 3x3 convolution without bias, instance
norm (no parameters; or LayerNorm over height, width and channels in fastmri_layernorm),
LeakyReLU(0.2) (tanh in fastmri_tanh). Loss: mean absolute error on the normalised images.

Metric: SSIM (Wang et al. 2004) per slice on the de-normalised images, with data range the
volume's maximum, a 7x7 uniform window, sample covariance and constants K1 = 0.01, K2 = 0.03,
averaged over the windows that lie inside the image (scikit-image's `structural_similarity`
with these settings, as AlgoPerf computes it); clipped to [-1, 1]. Target: validation SSIM
0.723653, test 0.740633 (higher is better). Held-out variants (AlgoPerf v0.5):
fastmri_model_size (64 channels, 3 pooling layers), fastmri_tanh, fastmri_layernorm.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bench.workload import Batch, WorkloadSpec
from workloads import _arrays, _pipeline, _synthetic
from workloads._arrays import ArrayParts
from workloads._image_classification import count_parameters
from workloads._tfds import DatasetNotPreparedError

IMAGE_SIZE = 320
TINY_BATCH_SIZE = 2  # even a tiny U-Net step takes ~25 ms per 320 x 320 image on a CPU
KSPACE_ROWS = 640
CENTER_FRACTION = 0.08
ACCELERATION = 4
TRAIN_DIR, VAL_DIR = "knee_singlecoil_train", "knee_singlecoil_val"
VALIDATION_FILES = 100  # the first files of VAL_DIR in name order; the rest is the test split
FEATURES = ("inputs", "targets", "mean", "std", "volume_max")


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    channels: int = 32
    num_pool_layers: int = 4
    activation: str = "leaky_relu"  # or "tanh"
    layer_norm: bool = False  # instead of instance norm in the conv blocks
    dropout: float = 0.0


def tiny(config: UNetConfig) -> UNetConfig:
    """A small network of the same kind (activation, normalisation) for smoke runs."""
    return dataclasses.replace(config, channels=2, num_pool_layers=2)


# ------------------------------------------------------------------------------------ model


def instance_norm(x, epsilon: float = 1e-5):
    """(x - mean) / sqrt(var + eps) over height and width, per example and channel."""
    mean = jnp.mean(x, axis=(1, 2), keepdims=True)
    var = jnp.maximum(jnp.mean(jnp.square(x), axis=(1, 2), keepdims=True) - jnp.square(mean), 0.0)
    return (x - mean) / jnp.sqrt(var + epsilon)


def _activation(name: str):
    return nn.tanh if name == "tanh" else functools.partial(nn.leaky_relu, negative_slope=0.2)


class _ConvBlock(nn.Module):
    channels: int
    config: UNetConfig

    @nn.compact
    def __call__(self, x, train: bool):
        act = _activation(self.config.activation)
        for _ in range(2):
            x = nn.Conv(self.channels, (3, 3), use_bias=False)(x)
            x = nn.LayerNorm(reduction_axes=(1, 2, 3))(x) if self.config.layer_norm \
                else instance_norm(x)
            x = act(x)
            x = nn.Dropout(self.config.dropout, broadcast_dims=(1, 2), deterministic=not train)(x)
        return x


class _UpBlock(nn.Module):
    channels: int
    config: UNetConfig

    @nn.compact
    def __call__(self, x):
        x = nn.ConvTranspose(self.channels, (2, 2), strides=(2, 2), use_bias=False)(x)
        return _activation(self.config.activation)(instance_norm(x))


class UNet(nn.Module):
    config: UNetConfig = UNetConfig()

    @nn.compact
    def __call__(self, images, train: bool = False):
        cfg = self.config
        x = images[..., None]
        skips, channels = [], cfg.channels
        for _ in range(cfg.num_pool_layers):
            x = _ConvBlock(channels, cfg)(x, train)
            skips.append(x)
            x = nn.avg_pool(x, (2, 2), strides=(2, 2))
            channels *= 2
        x = _ConvBlock(channels, cfg)(x, train)
        for skip in reversed(skips):
            channels //= 2
            x = _UpBlock(channels, cfg)(x)
            pad_rows, pad_cols = skip.shape[1] - x.shape[1], skip.shape[2] - x.shape[2]
            if pad_rows or pad_cols:  # odd sizes: reflect-pad at the bottom and right
                x = jnp.pad(x, ((0, 0), (0, pad_rows), (0, pad_cols), (0, 0)), mode="reflect")
            x = _ConvBlock(channels, cfg)(jnp.concatenate([x, skip], axis=-1), train)
        return nn.Conv(1, (1, 1))(x)[..., 0]


# ----------------------------------------------------------------------------------- metric


def _box_mean(image, size: int):
    """Mean over every size x size window lying inside the image ('valid' windows)."""
    total = jax.lax.reduce_window(image, 0.0, jax.lax.add, (size, size), (1, 1), "VALID")
    return total / size**2


def ssim(x, y, data_range, window: int = 7, k1: float = 0.01, k2: float = 0.03):
    """Mean SSIM of two images [H, W] over the windows inside them (see the module doc).

    Per window: (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)),
    C1 = (k1 L)^2, C2 = (k2 L)^2, L = data_range, with sample (co)variances (n / (n - 1)).
    """
    n = window**2
    mx, my = _box_mean(x, window), _box_mean(y, window)
    correction = n / (n - 1)
    vx = correction * (_box_mean(x * x, window) - mx * mx)
    vy = correction * (_box_mean(y * y, window) - my * my)
    vxy = correction * (_box_mean(x * y, window) - mx * my)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return jnp.mean(s)


def batch_ssim(outputs, batch: Batch):
    """SSIM per example of de-normalised outputs and targets, clipped to [-1, 1]."""
    scale = batch["std"][:, None, None]
    shift = batch["mean"][:, None, None]
    data_range = jnp.where(batch["volume_max"] == 0, 1.0, batch["volume_max"])
    values = jax.vmap(ssim)(outputs * scale + shift, batch["targets"] * scale + shift, data_range)
    return jnp.clip(values, -1.0, 1.0)


# ------------------------------------------------------------------------------------- data


def prepared_dir(data_dir: str | None) -> Path:
    return Path(data_dir or ".").expanduser() / "fastmri"


def read_prepared_split(data_dir: str | None, split: str, workload: str) -> ArrayParts:
    parts = _arrays.read_parts(prepared_dir(data_dir) / split, FEATURES)
    if parts is None:
        raise DatasetNotPreparedError(
            f"workload {workload}: no prepared fastMRI {split!r} split under "
            f"{prepared_dir(data_dir) / split}. Prepare it with `bench prepare fastmri --raw "
            f"<folder with {TRAIN_DIR}/ and {VAL_DIR}/> --data-dir {data_dir or '.'}` (the knee "
            "single-coil data, about 90 GB, from fastmri.med.nyu.edu; no TensorFlow needed)"
        )
    return parts


def synthetic_split(num_examples: int, seed: int) -> ArrayParts:
    """Random normalised images and per-slice statistics of the prepared shapes."""
    rng = np.random.default_rng(seed)
    shape = (num_examples, IMAGE_SIZE, IMAGE_SIZE)
    return ArrayParts([{
        "inputs": np.clip(rng.normal(size=shape), -6, 6).astype(np.float32),
        "targets": np.clip(rng.normal(size=shape), -6, 6).astype(np.float32),
        "mean": rng.uniform(1e-5, 1e-4, num_examples).astype(np.float32),
        "std": rng.uniform(1e-5, 1e-4, num_examples).astype(np.float32),
        "volume_max": rng.uniform(5e-4, 1e-3, num_examples).astype(np.float32),
    }])


def undersampling_mask(num_cols: int, rng: np.random.Generator) -> np.ndarray:
    """AlgoPerf's column mask: the centre fraction, plus random columns for 4x acceleration."""
    num_low = int(num_cols * CENTER_FRACTION)
    start = (num_cols - num_low + 1) // 2
    prob = (num_cols / ACCELERATION - num_low) / (num_cols - num_low)
    mask = rng.random(num_cols) < prob
    mask[start:start + num_low] = True
    return mask


def preprocess_slice(kspace: np.ndarray, target: np.ndarray, mask: np.ndarray) -> dict:
    """One slice's input, target and statistics (see the module doc)."""
    masked = kspace * mask[None, :]
    image = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(masked), norm="ortho"))
    top = (image.shape[0] - target.shape[0]) // 2
    left = (image.shape[1] - target.shape[1]) // 2
    magnitude = np.abs(image[top:top + target.shape[0], left:left + target.shape[1]])
    mean, std = magnitude.mean(), magnitude.std()
    return {
        "inputs": np.clip((magnitude - mean) / std, -6, 6).astype(np.float32),
        "targets": np.clip((target - mean) / std, -6, 6).astype(np.float32),
        "mean": np.float32(mean), "std": np.float32(std),
    }


def _convert_volume(path: Path, seed: list[int]) -> dict[str, np.ndarray]:
    try:
        import h5py
    except ImportError:
        raise ValueError("preparing fastMRI reads HDF5 files: pip install 'bench[data]' "
                         "(h5py)") from None

    with h5py.File(path, "r") as volume:
        volume_max = np.float32(volume.attrs.get("max", 0.0))
        slices = []
        for index in range(volume["kspace"].shape[0]):
            kspace = volume["kspace"][index]
            mask = undersampling_mask(kspace.shape[1], np.random.default_rng([*seed, index]))
            slices.append(preprocess_slice(kspace, volume["reconstruction_esc"][index], mask))
    arrays = {key: np.stack([s[key] for s in slices]) for key in FEATURES[:-1]}
    arrays["volume_max"] = np.full(len(slices), volume_max, np.float32)
    return arrays


def prepare(raw_dir: str, data_dir: str) -> dict[str, int]:
    """Write the train, validation and test splits under <data_dir>/fastmri (module doc).

    `raw_dir` holds knee_singlecoil_train/ and knee_singlecoil_val/ (the .h5 files of the
    extracted archives). Returns the slices per split.
    """
    raw, out = Path(raw_dir), prepared_dir(data_dir)
    train = sorted((raw / TRAIN_DIR).glob("*.h5"))
    val = sorted((raw / VAL_DIR).glob("*.h5"))
    if not train or not val:
        raise FileNotFoundError(
            f"fastMRI: expected .h5 files in {raw / TRAIN_DIR} and {raw / VAL_DIR}"
        )
    sizes = {}
    plan = {"train": train, "validation": val[:VALIDATION_FILES], "test": val[VALIDATION_FILES:]}
    for split_number, (split, files) in enumerate(plan.items()):
        sizes[split] = 0
        for file_number, path in enumerate(files):
            # Evaluation masks all come from seed 0 (AlgoPerf: one fixed seed for evaluation).
            seed = [split_number, file_number] if split == "train" else [0]
            arrays = _convert_volume(path, seed)
            _arrays.write_part(out / split, path.stem, arrays)
            sizes[split] += len(arrays["inputs"])
    return sizes


# -------------------------------------------------------------------------------- workload


class FastMRIWorkload(_arrays.PreparedArraysWorkload):
    def __init__(self, spec: WorkloadSpec, model_config: UNetConfig = UNetConfig(), *,
                 eval_batch_size: int = 256):
        super().__init__(spec, read_prepared_split)
        self.model_config = model_config
        self.model = UNet(model_config)
        self.eval_batch_size = eval_batch_size

    def fake(self, model_size: str = "tiny") -> FastMRIWorkload:
        batch_size = _synthetic.fake_batch_size(self.spec, model_size, TINY_BATCH_SIZE)
        config = self.model_config if model_size == "full" else tiny(self.model_config)
        return self.synthetic_copy(model_size, batch_size, synthetic_split,
                                   model_config=config, model=UNet(config))

    def init(self, rng):
        params_rng, dropout_rng = jax.random.split(rng)
        if not hasattr(self, "_jitted_init"):
            self._jitted_init = jax.jit(functools.partial(self.model.init, train=False))
        dummy = jnp.zeros((1, IMAGE_SIZE, IMAGE_SIZE), jnp.float32)
        variables = self._jitted_init({"params": params_rng, "dropout": dropout_rng}, dummy)
        return variables["params"], {}

    def num_parameters(self) -> int:
        params, _ = jax.eval_shape(self.init, jax.random.key(0))
        return count_parameters(params)

    def _outputs(self, params, batch, train: bool, rng=None):
        rngs = {"dropout": rng} if rng is not None else {}
        return self.model.apply({"params": params}, batch["inputs"], train=train, rngs=rngs)

    def loss(self, params, model_state, batch: Batch, rng, train: bool):
        outputs = self._outputs(params, batch, train, rng)
        return jnp.mean(jnp.abs(outputs - batch["targets"])), model_state

    def train_batches(self, batch_size: int, seed: int) -> Iterator[Batch]:
        split = self.split_data("train")
        index_batches = _pipeline.shuffled_index_batches(len(split), batch_size, seed)
        return _pipeline.BatchStream(index_batches, lambda _, index: split.take(index))

    def eval_batches(self, split: str) -> Iterator[Batch]:
        data = self.split_data(split)
        for index, mask in _pipeline.eval_index_batches(len(data), self.eval_batch_size):
            yield {**data.take(index), "mask": mask}

    def eval_sums(self, params, model_state, batch: Batch):
        outputs = self._outputs(params, batch, train=False)
        mask = batch["mask"]
        errors = jnp.mean(jnp.abs(outputs - batch["targets"]), axis=(1, 2))
        return {
            "loss": jnp.sum(errors * mask),
            "ssim": jnp.sum(batch_ssim(outputs, batch) * mask),
            "count": jnp.sum(mask),
        }


# --------------------------------------------------------------------------------- specs


FASTMRI_SPEC = WorkloadSpec(
    name="fastmri",
    tier="full",
    dataset="fastMRI knee single-coil (34,742/3,554/3,581 slices)",
    model="U-Net (32 channels, 4 pooling layers)",
    target_metric="ssim",
    validation_target=0.723653,
    test_target=0.740633,
    higher_is_better=True,
    step_hint=18_094,
    max_runtime=4_430.0,
    eval_period=80.0,
    batch_size=32,
    description="MRI reconstruction with a U-Net (AlgoPerf's fastmri)",
    calibration=(
        "Targets are AlgoPerf v0.5's (validation SSIM 0.723653, test 0.740633). Step hint "
        "18,094 and budget 4,430 s are the values AlgoPerf adopted in 2025 together with that "
        "step hint (the v0.5.0 release had 36,189 and 8,859 s); evaluation every 80 s; "
        "AlgoPerf's budgets are for 8 NVIDIA V100 GPUs. Batch size 32 (AlgoPerf's NadamW "
        "baseline)."
    ),
)


def variant_spec(name: str, validation: float, test: float, model: str) -> WorkloadSpec:
    return dataclasses.replace(
        FASTMRI_SPEC, name=name, validation_target=validation, test_target=test, model=model,
        variant_of="fastmri", description=f"fastmri's held-out variant {name} (AlgoPerf v0.5)",
        calibration=(
            f"Targets are AlgoPerf v0.5's for {name} (validation SSIM {validation}, test {test}; "
            "algoperf/workloads/fastmri/fastmri_jax/workload.py); step hint, budget and batch "
            "size are fastmri's."
        ),
    )


FASTMRI = FastMRIWorkload(FASTMRI_SPEC)
FASTMRI_MODEL_SIZE = FastMRIWorkload(
    variant_spec("fastmri_model_size", 0.723559, 0.740726,
                 "U-Net (64 channels, 3 pooling layers)"),
    UNetConfig(channels=64, num_pool_layers=3),
)
FASTMRI_TANH = FastMRIWorkload(
    variant_spec("fastmri_tanh", 0.717840, 0.734505, "U-Net, tanh"),
    UNetConfig(activation="tanh"),
)
FASTMRI_LAYERNORM = FastMRIWorkload(
    variant_spec("fastmri_layernorm", 0.723284, 0.739996, "U-Net, LayerNorm"),
    UNetConfig(layer_norm=True),
)

WORKLOADS = [FASTMRI, FASTMRI_MODEL_SIZE, FASTMRI_TANH, FASTMRI_LAYERNORM]
