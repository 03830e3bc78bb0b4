"""The workload object an AlgoPerf submission is handed, built over a bench workload.

AlgoPerf's JAX submissions read a small part of AlgoPerf's `spec.Workload` (counted over the
baselines of mlcommons/algorithmic-efficiency and the JAX submissions of
mlcommons/submissions_algorithms, v0.5 and v0.6 leaderboards): `step_hint`, `model_fn`,
`loss_fn`, `param_shapes`, `metrics_logger`, and more rarely `model_params_types`,
`target_metric_name`, `num_train_examples`, `max_allowed_runtime_sec`, `eval_period_time_sec`.
`AlgoPerfWorkload` provides those and the rest of the public attributes, from the bench
workload's spec and its initial parameters.

Forward pass and loss. A bench workload exposes one function, `loss(params, model_state, batch,
rng, train) -> (mean loss, model_state)`, not AlgoPerf's split into logits and loss. The facade
keeps AlgoPerf's call sequence and arithmetic exact:

    model_fn(params, batch, model_state, mode, rng, update_batch_norm)
        -> (mean loss of the batch, new model_state)         # stands where the logits stand
    loss_fn(label_batch, logits_batch, mask_batch, label_smoothing)
        -> {"summed": mean * n, "n_valid_examples": n}       # n: mask sum, else batch rows

so that `summed / n_valid_examples`, the mean training loss every AlgoPerf submission computes
(after a `psum` over devices in the pmap style), is the bench workload's loss, and its gradient is
the gradient bench's own training step takes. What this does not offer: logits (a submission that
reads them, e.g. through `output_activation_fn`, fails), `per_example` losses, and
`label_smoothing` or `dropout_rate`, which bench workloads fix in their own loss (the adapter warns
when a point sets them to anything but 0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bench.algoperf_api import spec
from bench.workload import Workload


class ScalarLog:
    """`workload.metrics_logger`: keeps the scalars the submission logs (AlgoPerf's baselines
    log the training loss and gradient norm every 100 steps) until the adapter reads them."""

    def __init__(self):
        self.latest: dict | None = None

    def append_scalar_metrics(self, metrics, global_step, preemption_count=None, is_eval=False):
        del preemption_count, is_eval
        self.latest = {"global_step": int(global_step), **dict(metrics)}

    def take(self) -> dict | None:
        latest, self.latest = self.latest, None
        return latest


def param_types(params, parent: str = ""):
    """AlgoPerf's `ParameterType` of every parameter, from Flax's naming conventions.

    The rule of AlgoPerf's `param_utils.jax_param_types`: the leaf name and the lower-cased path
    above it decide; `scale`/`bias` under a batch-norm (`batchnorm`, `bn`) or layer-norm
    (`layernorm`, `ln`) module are that norm's; leaves under a convolution are conv weights
    (biases stay biases); `embedding` leaves are embeddings; other `bias` leaves are biases and
    other leaves weights. (Attention parameters are reported as weights and biases.)
    """
    types = {}
    for name, value in params.items():
        key = name.lower()
        if hasattr(value, "items"):
            types[name] = param_types(value, f"{parent}/{key}")
        elif "batchnorm" in parent or "bn" in parent.split("/")[-1:]:
            types[name] = (spec.ParameterType.BATCH_NORM_SCALE if key == "scale"
                           else spec.ParameterType.BATCH_NORM_BIAS)
        elif "layernorm" in parent or "ln" in parent.split("/")[-1:]:
            types[name] = (spec.ParameterType.LAYER_NORM_SCALE if key == "scale"
                           else spec.ParameterType.LAYER_NORM_BIAS)
        elif "bias" in key:
            types[name] = spec.ParameterType.BIAS
        elif "conv" in parent:
            types[name] = spec.ParameterType.CONV_WEIGHT
        elif "embedding" in key:
            types[name] = spec.ParameterType.EMBEDDING
        else:
            types[name] = spec.ParameterType.WEIGHT
    return types


def _is_train(mode) -> bool:
    """Mode by name, so that a real `algoperf.spec.ForwardPassMode` works as well."""
    return getattr(mode, "name", mode) == spec.ForwardPassMode.TRAIN.name


class AlgoPerfWorkload:
    """AlgoPerf's workload interface over `workload`, for one trial (see the module docstring).

    `params` are the trial's initial parameters (for the shapes and types); `max_runtime` and
    `eval_period` the trial's resolved budget and evaluation period in seconds.
    """

    def __init__(self, workload: Workload, params, *, max_runtime: float, eval_period: float):
        self.workload = workload
        self.metrics_logger = ScalarLog()
        self._param_shapes = jax.tree.map(lambda x: spec.ShapeTuple(x.shape), params)
        self._param_types = param_types(params)
        self._output_key = list(params)[-1] if hasattr(params, "keys") and params else None
        self.max_allowed_runtime_sec = max_runtime
        self.eval_period_time_sec = eval_period

    # ---- facts
    @property
    def name(self) -> str:
        return self.workload.name

    @property
    def step_hint(self) -> int:
        return self.workload.spec.step_hint

    @property
    def num_train_examples(self) -> int:
        return self.workload.num_train_examples

    @property
    def param_shapes(self):
        return self._param_shapes

    @property
    def model_params_types(self):
        return self._param_types

    @property
    def loss_type(self):
        """None: bench workloads do not name their loss (AlgoPerf's submissions ignore it)."""
        return getattr(self.workload, "loss_type", None)

    @property
    def target_metric_name(self) -> str:
        return self.workload.spec.target_metric

    @property
    def validation_target_value(self) -> float:
        return self.workload.spec.validation_target

    @property
    def test_target_value(self) -> float | None:
        return self.workload.spec.test_target

    def has_reached_validation_target(self, eval_result: dict) -> bool:
        key = f"validation/{self.target_metric_name}"
        return self.workload.target_reached({self.target_metric_name: eval_result[key]})

    def is_output_params(self, param_key) -> bool:
        """The output layer is the last top-level module of the parameters (Flax keeps
        creation order, and the output layer is created last)."""
        return param_key == self._output_key

    def attach_metrics_logger(self, metrics_logger) -> None:
        self.metrics_logger = metrics_logger

    # ---- forward pass and loss
    def model_fn(self, params, augmented_and_preprocessed_input_batch, model_state, mode, rng,
                 update_batch_norm=True, dropout_rate=None):
        """(mean loss of the batch, new model state); see the module docstring."""
        del dropout_rate  # the bench workload's own
        loss, new_state = self.workload.loss(
            params, model_state, augmented_and_preprocessed_input_batch, rng, _is_train(mode))
        return loss, (new_state if update_batch_norm else model_state)

    def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing=0.0):
        """{"summed", "n_valid_examples"} whose ratio is the mean loss `model_fn` returned."""
        del label_smoothing  # the bench workload's own
        if mask_batch is not None:
            count = jnp.sum(mask_batch).astype(jnp.float32)
        else:
            labels = label_batch[0] if isinstance(label_batch, tuple) else label_batch
            count = jnp.asarray(labels.shape[0], jnp.float32)
        return {"summed": logits_batch * count, "n_valid_examples": count}
