"""The workload contract: the model, data, loss and target a submission is trained on.

A workload states as data (`WorkloadSpec`) what the harness needs to run the time-to-result
protocol: the validation target and its direction, the step hint a good baseline needs, the
submission-time budget and evaluation cadence, the default batch size and the tier (`cpu`:
minutes on a 2-core laptop; `full`: AlgoPerf scale, meant for accelerators).

It provides, as methods of a `Workload` subclass:

- `load(data_dir)`: read or generate the data once, before any clock starts;
- `init(rng) -> (params, model_state)`: fresh parameters (model_state holds e.g. batch-norm
  statistics; use `{}` when there is none);
- `loss(params, model_state, batch, rng, train) -> (mean loss, new model_state)`: pure and
  jit-able; the harness differentiates it and owns the training step;
- `train_batches(batch_size, seed)`: an endless iterator of fixed-size numpy batches, its order
  fixed by the seed;
- `eval_batches(split)` and `eval_sums(params, model_state, batch)`: evaluation as sums over
  batches (so that splits of any size can be evaluated in pieces); `evaluate` turns the sums into
  means.

Variants (another activation, width or normalisation) are workloads of their own with their own
name and targets.

Full-tier workloads also offer `fake(model_size)`: a copy of the workload that trains and
evaluates on synthetic inputs of the true shapes and dtypes, generated in memory (no data
directory), so that a full-tier workload can be smoke-tested on a laptop
(`bench run -w W -s S --fake-data --model-size tiny --max-steps 20`). `model_size="full"` keeps
the real model and batch size; `"tiny"` shrinks both so a step takes milliseconds on a CPU.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

Batch = dict[str, np.ndarray]
Params = Any
ModelState = Any

# cpu: the laptop tier, scored (`bench study`, `bench ci`); full: AlgoPerf's workloads;
# smoke: seconds-long checks that a submission trains at all, never part of a leaderboard.
TIERS = ("cpu", "full", "smoke")
SPLITS = ("validation", "test")
MODEL_SIZES = ("tiny", "full")  # for `Workload.fake`


@dataclasses.dataclass(frozen=True)
class WorkloadSpec:
    """What a workload promises, as plain data.

    Times are seconds of *submission time* (see `bench.protocol`), not wall-clock time.
    """

    name: str
    tier: str
    dataset: str
    model: str
    target_metric: str
    validation_target: float
    test_target: float | None
    higher_is_better: bool
    step_hint: int
    max_runtime: float
    eval_period: float
    batch_size: int
    description: str = ""
    calibration: str = ""  # how the target and budget were set, with the command that did it
    # A variant (another activation, width, ...) names its base workload. Scoring follows AlgoPerf:
    # variants are not counted in the profile, but a missed variant makes its base count as missed.
    variant_of: str | None = None

    def __post_init__(self):
        if self.tier not in TIERS:
            raise ValueError(f"workload {self.name}: tier must be one of {TIERS}, not {self.tier!r}")
        for field in ("step_hint", "max_runtime", "eval_period", "batch_size"):
            if not getattr(self, field) > 0:
                raise ValueError(f"workload {self.name}: {field} must be positive")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class WorkloadInfo:
    """What a submission may know about the workload it is given (no data, no targets)."""

    name: str
    tier: str
    step_hint: int
    batch_size: int
    max_runtime: float
    num_train_examples: int
    param_shapes: Any  # a pytree of jax.ShapeDtypeStruct, shaped like the parameters


class Workload(abc.ABC):
    """Base class of every workload; see the module docstring for the contract."""

    spec: WorkloadSpec
    # For a copy made by `fake`: (the workload it copies, its model size); None otherwise.
    fake_of: tuple[Workload, str] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    @abc.abstractmethod
    def num_train_examples(self) -> int:
        """Size of the training split (known after `load`)."""

    @abc.abstractmethod
    def load(self, data_dir: str | None = None) -> None:
        """Make the data ready. Called once per process before any trial; idempotent."""

    @abc.abstractmethod
    def init(self, rng: jax.Array) -> tuple[Params, ModelState]:
        """Fresh parameters and model state."""

    @abc.abstractmethod
    def loss(self, params, model_state, batch: Batch, rng: jax.Array, train: bool):
        """Mean training loss over `batch` and the updated model state. Pure and jit-able."""

    @abc.abstractmethod
    def train_batches(self, batch_size: int, seed: int) -> Iterator[Batch]:
        """Endless iterator of training batches of exactly `batch_size` examples."""

    @abc.abstractmethod
    def eval_batches(self, split: str) -> Iterator[Batch]:
        """The batches of a split ("validation" or "test"), each covering it once."""

    @abc.abstractmethod
    def eval_sums(self, params, model_state, batch: Batch) -> dict[str, jax.Array]:
        """Per-batch sums of each metric plus the key "count" (the number of real examples).

        Pure and jit-able; `evaluate` divides every sum by the total count.
        """

    def fake(self, model_size: str = "tiny") -> "Workload":
        """This workload on synthetic data of its true shapes; see the module docstring.

        The copy keeps the name, targets and rules of the original; `model_size` is one of
        `MODEL_SIZES`. Workloads without a fake form (the cpu tier's data is generated or
        shipped anyway) raise `NotImplementedError`.
        """
        raise NotImplementedError(f"workload {self.name} has no fake-data form")

    def with_spec(self, spec: WorkloadSpec) -> "Workload":
        """This workload under another spec (other targets, step hint or budget): a shallow copy
        sharing data and model, or the workload itself when `spec` is its own. The original is
        never changed."""
        if spec == self.spec:
            return self
        changed = copy.copy(self)
        changed.spec = spec
        return changed

    def info(self, params, batch_size: int | None = None) -> WorkloadInfo:
        """The facts a submission's `make_optimizer` receives."""
        return WorkloadInfo(
            name=self.spec.name,
            tier=self.spec.tier,
            step_hint=self.spec.step_hint,
            batch_size=batch_size or self.spec.batch_size,
            max_runtime=self.spec.max_runtime,
            num_train_examples=self.num_train_examples,
            param_shapes=jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), params),
        )

    def evaluate(self, params, model_state, split: str) -> dict[str, float]:
        """Mean of every metric over a whole split."""
        if not hasattr(self, "_jitted_eval_sums"):
            self._jitted_eval_sums = jax.jit(self.eval_sums)
        totals: dict[str, float] = {}
        for batch in self.eval_batches(split):
            sums = jax.device_get(self._jitted_eval_sums(params, model_state, batch))
            for key, value in sums.items():
                totals[key] = totals.get(key, 0.0) + float(value)
        count = totals.pop("count", 0.0)
        if count <= 0:
            raise ValueError(f"workload {self.name}: split {split!r} has no examples")
        return {key: value / count for key, value in totals.items()}

    def target_reached(self, metrics: dict[str, float]) -> bool:
        """Whether validation metrics meet the validation target."""
        value = metrics[self.spec.target_metric]
        if not np.isfinite(value):
            return False
        if self.spec.higher_is_better:
            return value >= self.spec.validation_target
        return value <= self.spec.validation_target
