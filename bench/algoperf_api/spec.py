"""A stand-in for AlgoPerf's `algoperf.spec` (formerly `algorithmic_efficiency.spec`).

AlgoPerf submissions begin with `from algoperf import spec` and use the module for enums
(`ForwardPassMode.TRAIN`, `ParameterType`, `LossType`), for `ShapeTuple` (the leaves of
`workload.param_shapes`), for `TrainingCompleteError` and for type annotations. This module
provides those names with AlgoPerf's values (mlcommons/algorithmic-efficiency, algoperf/spec.py,
main of 2025), without PyTorch, so that a JAX submission imports without AlgoPerf installed;
`bench.algoperf_api.modules` registers it under both package names.

Hyperparameters: AlgoPerf hands `update_params` a namedtuple called `Hyperparameters` whose
fields are the point's names (external tuning), or None (self-tuning); see
`bench.algoperf_api.adapter.hyperparameters`.
"""

from __future__ import annotations

import enum
from typing import Any


class LossType(enum.Enum):
    SOFTMAX_CROSS_ENTROPY = 0
    SIGMOID_CROSS_ENTROPY = 1
    MEAN_SQUARED_ERROR = 2
    CTC_LOSS = 3
    MEAN_ABSOLUTE_ERROR = 4


class ForwardPassMode(enum.Enum):
    TRAIN = 0
    EVAL = 1


class ParameterType(enum.Enum):
    WEIGHT = 0
    BIAS = 1
    CONV_WEIGHT = 2
    BATCH_NORM_SCALE = 3
    BATCH_NORM_BIAS = 4
    LAYER_NORM_SCALE = 5
    LAYER_NORM_BIAS = 6
    EMBEDDING = 7
    ATTENTION_Q = 8
    ATTENTION_K = 9
    ATTENTION_V = 10
    ATTENTION_OUT = 11
    ATTENTION_QKV = 12
    ATTENTION_KV = 13
    ATTENTION_BIAS = 14


class ShapeTuple:
    """A parameter's shape as one pytree leaf (a plain tuple would be iterated by tree maps)."""

    def __init__(self, shape_tuple):
        self.shape_tuple = tuple(shape_tuple)

    def __repr__(self):
        return f"ShapeTuple({self.shape_tuple})"

    def __eq__(self, other):
        return isinstance(other, ShapeTuple) and self.shape_tuple == other.shape_tuple

    def __hash__(self):
        return hash(self.shape_tuple)


class TrainingCompleteError(Exception):
    """Raised by `update_params` to end training early (AlgoPerf: a final untimed evaluation
    follows; the run counts as a miss unless that evaluation meets the target)."""


# Type aliases, as annotations only.
Tensor = Any
Shape = Any
ParameterShapeTree = Any
ParameterKey = str
ParameterContainer = Any
ParameterTypeTree = Any
RandomState = Any
OptimizerState = Any
Hyperparameters = Any
Timing = int
Steps = int
ModelAuxiliaryState = Any
ModelInitState = Any
UpdateReturn = Any
InitOptimizerFn = Any
UpdateParamsFn = Any
PrepareForEvalFn = Any
DataSelectionFn = Any


class Workload:
    """The type name submissions annotate with; the object they get is a
    `bench.algoperf_api.facade.AlgoPerfWorkload`."""
