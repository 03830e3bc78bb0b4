"""MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao et al. 2017, arXiv 1708.07747): full tier.

28x28 grey images of 10 classes, read from the tfds datasets `mnist` and `fashion_mnist`
(prepared in the array_record format; see `workloads._tfds`). As in AlgoPerf's MNIST workload,
the first 50,000 examples of the tfds train split are the training set, the last 10,000 the
validation set, and the tfds test split (10,000) the test set. Pixels are normalised with the
training mean and standard deviation of pixel/255: 0.1307 and 0.3081 for MNIST (AlgoPerf's
values), 0.2860 and 0.3530 for Fashion-MNIST. No augmentation.

Model: a small CNN, sized by `SmallCNNConfig`: two 3x3 convolutions (32 and 64 channels) with
ReLU, each followed by 2x2 max pooling, a dense layer of 128 ReLU units and a linear classifier
(about 420k parameters). Softmax cross-entropy; the target is validation accuracy.

Budgets follow AlgoPerf's MNIST development workload: step hint 7,813 (10 epochs at batch size
64), a budget of 60 s and an evaluation every 10 s. Targets are provisional (see `calibration`).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn

from bench.workload import WorkloadSpec
from workloads._image_classification import InMemoryImageWorkload

MNIST_MEAN_STD = (0.1307, 0.3081)  # of pixel / 255
FASHION_MNIST_MEAN_STD = (0.2860, 0.3530)
NUM_VALIDATION = 10_000


@dataclasses.dataclass(frozen=True)
class SmallCNNConfig:
    channels: tuple[int, ...] = (32, 64)
    dense: int = 128
    num_classes: int = 10


class SmallCNN(nn.Module):
    config: SmallCNNConfig = SmallCNNConfig()

    @nn.compact
    def __call__(self, x, train: bool = False):
        for channels in self.config.channels:
            x = nn.relu(nn.Conv(channels, (3, 3))(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(self.config.dense)(x))
        return nn.Dense(self.config.num_classes)(x)


def make_workload(
    spec: WorkloadSpec,
    builder: str,
    model_config: SmallCNNConfig = SmallCNNConfig(),
    *,
    mean_std: tuple[float, float] = MNIST_MEAN_STD,
    num_validation: int = NUM_VALIDATION,
    eval_batch_size: int = 10_000,
) -> InMemoryImageWorkload:
    """An MNIST-like workload; tests pass a tiny model and a small validation split."""
    return InMemoryImageWorkload(
        spec,
        SmallCNN(model_config),
        builder=builder,
        num_validation=num_validation,
        mean=(mean_std[0] * 255,),
        std=(mean_std[1] * 255,),
        input_shape=(28, 28, 1),
        num_classes=model_config.num_classes,
        eval_batch_size=eval_batch_size,
        tiny_model=SmallCNN(dataclasses.replace(model_config, channels=(4,), dense=8)),
    )


MNIST_SPEC = WorkloadSpec(
    name="mnist",
    tier="full",
    dataset="MNIST (tfds mnist: 50k/10k/10k)",
    model="small CNN (conv 32, conv 64, dense 128)",
    target_metric="accuracy",
    validation_target=0.97,
    test_target=0.97,
    higher_is_better=True,
    step_hint=7_813,
    max_runtime=60.0,
    eval_period=10.0,
    batch_size=64,
    description="MNIST digits with a small CNN (AlgoPerf's development workload, CNN model)",
    calibration=(
        "Not calibrated here (no copy of the dataset was available while building it). Target, "
        "step hint (10 epochs at batch size 64), budget and evaluation period are those of "
        "AlgoPerf's MNIST development workload, whose model is an MLP (784-128-10, sigmoid); a "
        "CNN reaches 0.97 sooner. Recalibrate on an accelerator with TFDS_DATA_DIR=<data dir> "
        "bench calibrate --workload mnist --learning-rates ..."
    ),
)

FASHION_MNIST_SPEC = dataclasses.replace(
    MNIST_SPEC,
    name="fashion_mnist",
    dataset="Fashion-MNIST (tfds fashion_mnist: 50k/10k/10k)",
    validation_target=0.90,
    test_target=0.90,
    description="Fashion-MNIST clothing images with a small CNN",
    calibration=(
        "Provisional, not calibrated (no copy of the dataset was available while building it): "
        "0.90 sits below the 0.91-0.92 accuracy small CNNs usually reach on Fashion-MNIST in "
        "about 10 epochs. Step hint, budget and evaluation period as for mnist. Recalibrate "
        "with TFDS_DATA_DIR=<data dir> bench calibrate --workload fashion_mnist "
        "--learning-rates ..."
    ),
)

MNIST = make_workload(MNIST_SPEC, "mnist")
FASHION_MNIST = make_workload(
    FASHION_MNIST_SPEC, "fashion_mnist", mean_std=FASHION_MNIST_MEAN_STD
)

WORKLOADS = [MNIST, FASHION_MNIST]
