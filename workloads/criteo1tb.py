"""Criteo 1TB click logs with DLRM-small: full tier, AlgoPerf's `criteo1tb` workload.

Data: the Criteo 1TB Click Logs (24 days of ad impressions, 4.2 billion examples): a click label,
13 integer ("dense") features and 26 hashed categorical ("sparse") features per line. As in
AlgoPerf (algoperf/workloads/criteo1tb/input_pipeline.py): days 0-22 are the training split
(4,195,197,692 examples); day 23 is cut into the test split (its first 95,000,000 lines: 19 of
AlgoPerf's 36 five-million-line files) and the validation split (the remaining 83,274,637).

Preprocessing (`bench prepare criteo1tb --raw DIR --data-dir DIR`, see `prepare`), AlgoPerf's:
a dense feature x becomes log(max(x, 0) + 1), a missing one 0; a categorical value (8 hex
digits, "00000000" when missing) of column c is hashed together with c into that column's raw
vocabulary (`RAW_VOCAB_SIZES`, Google's DLRM tutorial's), then taken modulo the model's single
table of 4,194,304 rows. AlgoPerf hashes with TensorFlow's `to_hash_bucket_fast` (FarmHash);
here the hash is SplitMix64's finaliser (Steele et al. 2014) of (value, column), which needs no
TensorFlow: the buckets differ from AlgoPerf's, their distribution does not. The prepared
splits are numpy arrays per raw file under <data dir>/criteo1tb/<split>/, read memory-mapped.

Batches: contiguous runs of examples at a seeded, per-epoch shuffled run order (AlgoPerf
shuffles its files and reads each in order), {"dense": [B, 13] float32, "sparse": [B, 26]
int32, "targets": [B] float32}. Evaluation batches carry a padding "mask".

Model (`DLRMConfig`; Naumov et al. 2019, "Deep Learning Recommendation Model for Personalization
and Recommendation Systems", arXiv 1906.00091), AlgoPerf's DLRM-small
(algoperf/workloads/criteo1tb/criteo1tb_jax/models.py): a bottom MLP 13-512-256-128 (ReLU) on
the dense features; one embedding table of 4,194,304 x 128 (initialised uniform in
[0, 1/sqrt(4,194,304)) ) shared by the 26 sparse features; the dot interaction: all pairwise
inner products, diagonal included, of the 27 vectors (the bottom MLP's output and 26
embeddings), 27 * 28 / 2 = 378 values, concatenated with the bottom output (506 inputs) into a
top MLP 1024-1024-512-256-1 (ReLU between layers). Dense layers: Glorot-uniform kernels in the
bottom MLP, normal(sqrt(2 / (fan_in + fan_out))) in the top one, biases normal(sqrt(1 /
fan_out)). Loss: sigmoid cross-entropy of the click label; the metric is that loss, the target
validation 0.123735 and test 0.126041 (lower is better).

Held-out variants (AlgoPerf v0.5): criteo1tb_layernorm (LayerNorm after every hidden ReLU and
on the embeddings), criteo1tb_embed_init (embeddings uniform in [0, 1)), criteo1tb_resnet
(DLRMResNet: residual bottom MLP 256-256-256 and top MLP 256-256-256-256-1 on the concatenated
bottom output and flattened embeddings, no dot interaction).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
from collections.abc import Iterator
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.workload import Batch, WorkloadSpec
from workloads import _arrays, _pipeline, _synthetic
from workloads._arrays import ArrayParts
from workloads._image_classification import count_parameters
from workloads._tfds import DatasetNotPreparedError

NUM_DENSE = 13
NUM_SPARSE = 26
VOCAB_SIZE = 4_194_304  # 32 * 128 * 1024 rows of the one embedding table
# Raw vocabulary sizes of the 26 categorical columns (Google Cloud's DLRM tutorial, as cited in
# algoperf/workloads/criteo1tb/input_pipeline.py).
RAW_VOCAB_SIZES = (
    39884406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38532951, 2953546, 403346, 10, 2208,
    11938, 155, 4, 976, 14, 39979771, 25641295, 39664984, 585935, 12972, 108, 36,
)
TEST_EXAMPLES = 95_000_000  # the first lines of day 23; the rest is the validation split
TRAIN_DAYS = range(23)
CLICK_RATE = 0.03  # of the synthetic data (Criteo's is a few percent)


@dataclasses.dataclass(frozen=True)
class DLRMConfig:
    vocab_size: int = VOCAB_SIZE
    embed_dim: int = 128
    bottom_dims: tuple[int, ...] = (512, 256, 128)  # the last must equal embed_dim (small)
    top_dims: tuple[int, ...] = (1024, 1024, 512, 256, 1)
    layer_norm: bool = False
    residual: bool = False  # DLRMResNet: residual MLPs, no dot interaction
    embedding_init_scale: float | None = None  # None: 1 / sqrt(vocab_size)


DLRM_SMALL = DLRMConfig()
DLRM_RESNET = DLRMConfig(bottom_dims=(256, 256, 256), top_dims=(256, 256, 256, 256, 1),
                         residual=True)


def tiny(config: DLRMConfig) -> DLRMConfig:
    """A small network of the same kind (variant flags kept) for smoke runs."""
    bottom = (8, 8, 8) if config.residual else (16, 8)
    top = (8, 8, 1) if config.residual else (16, 8, 1)
    return dataclasses.replace(config, vocab_size=1024, embed_dim=8, bottom_dims=bottom,
                               top_dims=top)


# ------------------------------------------------------------------------------------ model


def _normal_dense(features: int, fan_in: int):
    return nn.Dense(
        features,
        kernel_init=nn.initializers.normal(np.sqrt(2.0 / (fan_in + features))),
        bias_init=nn.initializers.normal(np.sqrt(1.0 / features)),
    )


def _glorot_dense(features: int):
    return nn.Dense(features, kernel_init=nn.initializers.glorot_uniform(),
                    bias_init=nn.initializers.normal(np.sqrt(1.0 / features)))


def dot_interaction(features: jax.Array) -> jax.Array:
    """[B, n, d] -> [B, n (n + 1) / 2]: the inner products <f_i, f_j> for i <= j (row-major
    upper triangle, diagonal included)."""
    products = jnp.einsum("bid,bjd->bij", features, features)
    rows, cols = np.triu_indices(features.shape[1])
    return products[:, rows, cols]


class DLRM(nn.Module):
    config: DLRMConfig = DLRM_SMALL

    def _embed(self, sparse):
        cfg = self.config
        scale = cfg.embedding_init_scale or 1.0 / np.sqrt(cfg.vocab_size)

        def init(key, shape, dtype=jnp.float32):
            return jax.random.uniform(key, shape, dtype) * scale

        table = self.param("embedding_table", init, (cfg.vocab_size, cfg.embed_dim))
        return table[sparse % cfg.vocab_size]  # [B, 26, d]

    @nn.compact
    def __call__(self, dense, sparse, train: bool = False):
        cfg = self.config
        norm = nn.LayerNorm if cfg.layer_norm else (lambda: (lambda x: x))
        if cfg.residual:
            return self._residual(dense, sparse)
        x = dense
        for dim in cfg.bottom_dims:
            x = norm()(nn.relu(_glorot_dense(dim)(x)))
        embedded = norm()(self._embed(sparse))
        stacked = jnp.concatenate([x[:, None, :], embedded], axis=1)
        y = jnp.concatenate([x, dot_interaction(stacked)], axis=-1)
        fan_in = y.shape[-1]
        for index, dim in enumerate(cfg.top_dims):
            y = _normal_dense(dim, fan_in)(y)
            if index < len(cfg.top_dims) - 1:
                y = norm()(nn.relu(y))
            fan_in = dim
        return y[:, 0]

    def _residual(self, dense, sparse):
        cfg = self.config
        x = nn.relu(_glorot_dense(cfg.bottom_dims[0])(dense))
        for dim in cfg.bottom_dims[1:]:
            x = x + nn.relu(_glorot_dense(dim)(x))
        embedded = self._embed(sparse).reshape(dense.shape[0], -1)
        y = jnp.concatenate([x, embedded], axis=-1)
        y = nn.relu(_normal_dense(cfg.top_dims[0], y.shape[-1])(y))
        for previous, dim in zip(cfg.top_dims[:-2], cfg.top_dims[1:-1]):
            y = y + nn.relu(_normal_dense(dim, previous)(y))
        return _normal_dense(1, cfg.top_dims[-2])(y)[:, 0]


# ------------------------------------------------------------------------------------- data


FEATURES = {"dense": np.float32, "sparse": np.int32, "targets": np.float32}


def prepared_dir(data_dir: str | None) -> Path:
    return Path(data_dir or ".").expanduser() / "criteo1tb"


def read_prepared_split(data_dir: str | None, split: str, workload: str) -> ArrayParts:
    """A prepared split, memory-mapped; a one-line error naming `bench prepare` if missing."""
    folder = prepared_dir(data_dir) / split
    parts = _arrays.read_parts(folder, list(FEATURES))
    if parts is None:
        raise DatasetNotPreparedError(
            f"workload {workload}: no prepared Criteo 1TB {split!r} split under {folder}. Prepare "
            f"it with `bench prepare criteo1tb --raw <folder of day_0 ... day_23> --data-dir "
            f"{data_dir or '.'}` (about 1.3 TB of raw logs from Criteo; no TensorFlow needed)"
        )
    return parts


def synthetic_split(num_examples: int, seed: int) -> ArrayParts:
    """Random examples of the prepared shapes: log-counts, uniform categories, rare clicks."""
    rng = np.random.default_rng(seed)
    counts = rng.geometric(0.05, (num_examples, NUM_DENSE)) - 1
    return ArrayParts([{
        "dense": np.log1p(counts).astype(np.float32),
        "sparse": rng.integers(0, VOCAB_SIZE, (num_examples, NUM_SPARSE)).astype(np.int32),
        "targets": (rng.random(num_examples) < CLICK_RATE).astype(np.float32),
    }])


# -------------------------------------------------------------------------------- workload


class Criteo1TBWorkload(_arrays.PreparedArraysWorkload):
    def __init__(self, spec: WorkloadSpec, model_config: DLRMConfig = DLRM_SMALL, *,
                 eval_batch_size: int = 131_072):
        super().__init__(spec, read_prepared_split)
        self.model_config = model_config
        self.model = DLRM(model_config)
        self.eval_batch_size = eval_batch_size

    def fake(self, model_size: str = "tiny") -> Criteo1TBWorkload:
        batch_size = _synthetic.fake_batch_size(self.spec, model_size)
        config = self.model_config if model_size == "full" else tiny(self.model_config)
        return self.synthetic_copy(model_size, batch_size, synthetic_split,
                                   model_config=config, model=DLRM(config))

    def init(self, rng):
        if not hasattr(self, "_jitted_init"):
            self._jitted_init = jax.jit(functools.partial(self.model.init, train=False))
        dense = jnp.zeros((2, NUM_DENSE), jnp.float32)
        sparse = jnp.zeros((2, NUM_SPARSE), jnp.int32)
        return self._jitted_init({"params": rng}, dense, sparse)["params"], {}

    def num_parameters(self) -> int:
        params, _ = jax.eval_shape(self.init, jax.random.key(0))
        return count_parameters(params)

    def _losses(self, params, batch, train: bool):
        logits = self.model.apply({"params": params}, batch["dense"], batch["sparse"], train=train)
        return optax.sigmoid_binary_cross_entropy(logits, batch["targets"])

    def loss(self, params, model_state, batch: Batch, rng, train: bool):
        return self._losses(params, batch, train).mean(), model_state

    def train_batches(self, batch_size: int, seed: int) -> Iterator[Batch]:
        split = self.split_data("train")
        if not 0 < batch_size <= len(split):
            raise ValueError(f"batch size {batch_size} must be in [1, {len(split)}] examples")
        runs = _pipeline.shuffled_index_batches(len(split) // batch_size, 1, seed)

        def make_batch(_, run):
            start = int(run[0]) * batch_size
            return split.rows(start, start + batch_size)

        return _pipeline.BatchStream(runs, make_batch)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        data = self.split_data(split)
        size = self.eval_batch_size
        for start in range(0, len(data), size):
            rows = data.rows(start, min(start + size, len(data)))
            count = len(rows["targets"])
            mask = np.zeros(size, np.float32)
            mask[:count] = 1.0
            padded = {key: np.concatenate([value, np.repeat(value[:1], size - count, axis=0)])
                      for key, value in rows.items()}
            yield {**padded, "mask": mask}

    def eval_sums(self, params, model_state, batch: Batch):
        losses = self._losses(params, batch, train=False)
        return {"loss": jnp.sum(losses * batch["mask"]), "count": jnp.sum(batch["mask"])}


# ------------------------------------------------------------------------------ preparing


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (Steele, Lea and Flood 2014), elementwise on uint64."""
    z = values.astype(np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hash_categories(values: np.ndarray) -> np.ndarray:
    """[n, 26] category values (uint32) -> rows of the embedding table (see the module doc)."""
    columns = np.arange(NUM_SPARSE, dtype=np.uint64)
    hashed = _splitmix64(values.astype(np.uint64) | (columns << np.uint64(32)))
    raw = hashed % np.asarray(RAW_VOCAB_SIZES, np.uint64)
    return (raw % np.uint64(VOCAB_SIZE)).astype(np.int32)


def parse_lines(lines: list[str]) -> dict[str, np.ndarray]:
    """Raw TSV lines (label, 13 integers, 26 hex categories; fields may be empty) -> arrays."""
    fields = [line.rstrip("\n").split("\t") for line in lines]
    if any(len(row) != 1 + NUM_DENSE + NUM_SPARSE for row in fields):
        fields_per_line = 1 + NUM_DENSE + NUM_SPARSE
        raise ValueError(f"a Criteo line must have {fields_per_line} tab-separated fields")
    labels = np.array([float(row[0] or 0) for row in fields], np.float32)
    counts = np.array([[float(v) if v else 0.0 for v in row[1:1 + NUM_DENSE]] for row in fields],
                      np.float64).reshape(-1, NUM_DENSE)
    categories = np.array([[int(v or "0", 16) for v in row[1 + NUM_DENSE:]] for row in fields],
                          np.uint64).reshape(-1, NUM_SPARSE)
    return {
        "dense": np.log1p(np.maximum(counts, 0.0)).astype(np.float32),
        "sparse": hash_categories(categories),
        "targets": labels,
    }


def _open_text(path: Path):
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def _convert(path: Path, outputs, chunk_lines: int = 1_000_000) -> int:
    """Parse one raw day file; `outputs(line_number)` names the (folder, part) of each chunk."""
    count = 0
    with _open_text(path) as lines:
        while True:
            chunk = [line for _, line in zip(range(chunk_lines), lines)]
            if not chunk:
                return count
            arrays = parse_lines(chunk)
            for folder, name, lo, hi in outputs(count, len(chunk)):
                part = {key: value[lo:hi] for key, value in arrays.items()}
                _arrays.write_part(folder, name, part)
            count += len(chunk)


def _day_file(raw_dir: Path, day: int) -> Path:
    for name in (f"day_{day}", f"day_{day}.gz"):
        if (raw_dir / name).exists():
            return raw_dir / name
    raise FileNotFoundError(f"Criteo 1TB: {raw_dir}/day_{day} (or day_{day}.gz) not found")


def prepare(raw_dir: str, data_dir: str, *, test_examples: int = TEST_EXAMPLES) -> dict:
    """Write the train, validation and test splits under <data_dir>/criteo1tb (module doc).

    `raw_dir` holds Criteo's day_0 ... day_23 (plain or .gz). Returns the examples per split.
    """
    raw, out = Path(raw_dir), prepared_dir(data_dir)
    days = [_day_file(raw, day) for day in (*TRAIN_DAYS, 23)]  # fail early on a missing day
    sizes = {"train": 0, "validation": 0, "test": 0}
    for day, path in zip(TRAIN_DAYS, days):
        sizes["train"] += _convert(path, lambda start, n, day=day: [
            (out / "train", f"day{day:02d}_{start:012d}", 0, n)])

    def day23(start, n):
        cut = min(max(test_examples - start, 0), n)  # lines before `cut` are test examples
        parts = [(out / "test", f"{start:012d}", 0, cut)] if cut else []
        return parts + ([(out / "validation", f"{start + cut:012d}", cut, n)] if cut < n else [])

    total = _convert(days[-1], day23)
    sizes["test"] = min(test_examples, total)
    sizes["validation"] = total - sizes["test"]
    return sizes


# --------------------------------------------------------------------------------- specs


CRITEO1TB_SPEC = WorkloadSpec(
    name="criteo1tb",
    tier="full",
    dataset="Criteo 1TB click logs (4.2B/83M/95M)",
    model="DLRM-small",
    target_metric="loss",
    validation_target=0.123735,
    test_target=0.126041,
    higher_is_better=False,
    step_hint=10_666,
    max_runtime=7_703.0,
    eval_period=120.0,
    batch_size=262_144,
    description="Click-through prediction with DLRM-small (AlgoPerf's criteo1tb)",
    calibration=(
        "Targets are AlgoPerf v0.5's (validation loss 0.123735, test 0.126041); step hint "
        "10,666, budget 7,703 s and evaluation every 120 s as in algoperf/workloads/criteo1tb/"
        "workload.py (the same in v0.5.0 and later); AlgoPerf's budgets are for 8 NVIDIA V100 "
        "GPUs. Batch size 262,144 (AlgoPerf's NadamW baseline)."
    ),
)


def variant_spec(name: str, validation: float, test: float, model: str) -> WorkloadSpec:
    return dataclasses.replace(
        CRITEO1TB_SPEC, name=name, validation_target=validation, test_target=test, model=model,
        variant_of="criteo1tb", description=f"criteo1tb's held-out variant {name} (AlgoPerf v0.5)",
        calibration=(
            f"Targets are AlgoPerf v0.5's for {name} (validation loss {validation}, test {test}; "
            "algoperf/workloads/criteo1tb/criteo1tb_jax/workload.py); step hint, budget and "
            "batch size are criteo1tb's."
        ),
    )


CRITEO1TB = Criteo1TBWorkload(CRITEO1TB_SPEC)
CRITEO1TB_LAYERNORM = Criteo1TBWorkload(
    variant_spec("criteo1tb_layernorm", 0.123757, 0.126152, "DLRM-small, LayerNorm"),
    dataclasses.replace(DLRM_SMALL, layer_norm=True),
)
CRITEO1TB_EMBED_INIT = Criteo1TBWorkload(
    variant_spec("criteo1tb_embed_init", 0.129657, 0.131967,
                 "DLRM-small, embeddings initialised uniform in [0, 1)"),
    dataclasses.replace(DLRM_SMALL, embedding_init_scale=1.0),
)
CRITEO1TB_RESNET = Criteo1TBWorkload(
    variant_spec("criteo1tb_resnet", 0.12415, 0.12648, "DLRM with residual MLPs"),
    DLRM_RESNET,
)

WORKLOADS = [CRITEO1TB, CRITEO1TB_LAYERNORM, CRITEO1TB_EMBED_INIT, CRITEO1TB_RESNET]
