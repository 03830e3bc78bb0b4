"""Residual networks (He et al. 2016, "Deep Residual Learning for Image Recognition",
arXiv 1512.03385) in Flax, sized by a `ResNetConfig`.

- ResNet-50: bottleneck blocks (1x1, 3x3, 1x1 with 4x expansion), stages of 3, 4, 6, 3 blocks,
  64 base channels, the ImageNet stem (7x7 stride-2 convolution, 3x3 stride-2 max pool). The
  stride of a downsampling block sits on its 3x3 convolution ("v1.5", as in AlgoPerf's model).
- ResNet-18 for CIFAR: basic blocks (two 3x3 convolutions), stages of 2, 2, 2, 2 blocks, the
  CIFAR stem (one 3x3 stride-1 convolution, no pooling) for 32x32 inputs.

Batch normalisation (momentum 0.9, epsilon 1e-5) after every convolution; the last batch norm
of each residual branch starts with scale `last_bn_scale`, 0 by default (Goyal et al. 2017, arXiv
1706.02677), so each block starts as the identity; projection shortcuts (1x1 convolution + batch
norm) where the shape changes. Convolutions use He-normal initialisation (fan out). Global
average pooling, then a linear classifier.

AlgoPerf's held-out ResNet-50 variants (algoperf/workloads/imagenet_resnet/imagenet_jax/
workload.py, v0.5) change one of: the activation (`activation` "silu" or "gelu" instead of
"relu", everywhere the ReLU was) or the initial scale of those last batch norms
(`last_bn_scale` 8.0, "large_bn_init").
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import flax.linen as nn
import jax.numpy as jnp

conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
ACTIVATIONS = {"relu": nn.relu, "silu": nn.silu, "gelu": nn.gelu}


@dataclasses.dataclass(frozen=True)
class ResNetConfig:
    stage_sizes: tuple[int, ...] = (3, 4, 6, 3)
    block: Literal["basic", "bottleneck"] = "bottleneck"
    width: int = 64  # channels of the first stage (bottleneck blocks output 4x this)
    stem: Literal["imagenet", "cifar"] = "imagenet"
    num_classes: int = 1000
    last_bn_scale: float = 0.0  # initial scale of each residual branch's last batch norm
    activation: Literal["relu", "silu", "gelu"] = "relu"


RESNET50 = ResNetConfig()
RESNET18_CIFAR = ResNetConfig(stage_sizes=(2, 2, 2, 2), block="basic", stem="cifar", num_classes=10)


def tiny(config: ResNetConfig) -> ResNetConfig:
    """A small network of the same kind (stem, activation, init, classes) for smoke runs."""
    return dataclasses.replace(config, stage_sizes=(1,), block="basic", width=4)


class _Block(nn.Module):
    width: int
    strides: int
    bottleneck: bool
    last_bn_scale: float
    activation: str

    @nn.compact
    def __call__(self, x, train: bool):
        norm = lambda **kw: nn.BatchNorm(  # noqa: E731
            use_running_average=not train, momentum=0.9, epsilon=1e-5, **kw
        )
        act = ACTIVATIONS[self.activation]
        last_scale = nn.initializers.constant(self.last_bn_scale)
        out_channels = self.width * 4 if self.bottleneck else self.width
        if self.bottleneck:
            y = nn.Conv(self.width, (1, 1), use_bias=False, kernel_init=conv_init)(x)
            y = act(norm()(y))
            y = nn.Conv(self.width, (3, 3), self.strides, use_bias=False, kernel_init=conv_init)(y)
            y = act(norm()(y))
            y = nn.Conv(out_channels, (1, 1), use_bias=False, kernel_init=conv_init)(y)
        else:
            y = nn.Conv(self.width, (3, 3), self.strides, use_bias=False, kernel_init=conv_init)(x)
            y = act(norm()(y))
            y = nn.Conv(out_channels, (3, 3), use_bias=False, kernel_init=conv_init)(y)
        y = norm(scale_init=last_scale)(y)
        if x.shape[-1] != out_channels or self.strides != 1:
            x = nn.Conv(
                out_channels, (1, 1), self.strides, use_bias=False, kernel_init=conv_init,
                name="projection",
            )(x)
            x = norm(name="projection_norm")(x)
        return act(x + y)


class ResNet(nn.Module):
    config: ResNetConfig = RESNET50

    @nn.compact
    def __call__(self, x, train: bool = False):
        cfg = self.config
        act = ACTIVATIONS[cfg.activation]
        norm = lambda: nn.BatchNorm(  # noqa: E731
            use_running_average=not train, momentum=0.9, epsilon=1e-5
        )
        if cfg.stem == "imagenet":
            x = nn.Conv(cfg.width, (7, 7), 2, padding=[(3, 3), (3, 3)], use_bias=False,
                        kernel_init=conv_init)(x)
            x = act(norm()(x))
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        else:
            x = nn.Conv(cfg.width, (3, 3), use_bias=False, kernel_init=conv_init)(x)
            x = act(norm()(x))
        for stage, num_blocks in enumerate(cfg.stage_sizes):
            for index in range(num_blocks):
                x = _Block(
                    width=cfg.width * 2**stage,
                    strides=2 if stage > 0 and index == 0 else 1,
                    bottleneck=cfg.block == "bottleneck",
                    last_bn_scale=cfg.last_bn_scale,
                    activation=cfg.activation,
                )(x, train)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(cfg.num_classes)(x)
