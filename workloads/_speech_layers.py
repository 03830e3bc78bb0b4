"""Layers shared by the Conformer and DeepSpeech models of AlgoPerf's LibriSpeech workloads.

After AlgoPerf v0.5.0 (algorithmic_efficiency/workloads/librispeech_conformer/librispeech_jax/
models.py and librispeech_deepspeech/librispeech_jax/models.py, themselves after lingvo):

- `ScaledLayerNorm`: (x - mean) / sqrt(var + 1e-6) * (1 + scale) + bias, scale and bias
  initialised to 0 (so weight decay pulls towards the identity, unlike Flax's LayerNorm).
- `MaskedBatchNorm`: batch normalisation whose statistics skip padded time steps; running
  averages with momentum 0.999, epsilon 1e-3, output (x - mean) (1 + scale) / sqrt(var + eps)
  + bias, zeroed at padded steps.
- `ConvSubsampling`: two 3x3 convolutions with stride 2 ("SAME" padding, xavier-uniform
  kernels, zero biases) over (time, frequency), each followed by ReLU (tanh for the DeepSpeech
  tanh variant) and zeroing of padded steps: time and the 80 frequency bins shrink 4-fold.
  A subsampled step is padding if the input step it starts at was.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = {"relu": nn.relu, "tanh": jnp.tanh, "swish": nn.swish, "gelu": nn.gelu}


class ScaledLayerNorm(nn.Module):
    epsilon: float = 1e-6

    @nn.compact
    def __call__(self, x):
        dim = x.shape[-1]
        scale = self.param("scale", nn.initializers.zeros, (dim,))
        bias = self.param("bias", nn.initializers.zeros, (dim,))
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * (1 + scale) + bias


class MaskedBatchNorm(nn.Module):
    momentum: float = 0.999
    epsilon: float = 1e-3

    @nn.compact
    def __call__(self, x, paddings, train: bool):
        dim = x.shape[-1]
        running_mean = self.variable("batch_stats", "mean", jnp.zeros, (dim,))
        running_var = self.variable("batch_stats", "var", jnp.ones, (dim,))
        scale = self.param("scale", nn.initializers.zeros, (dim,))
        bias = self.param("bias", nn.initializers.zeros, (dim,))
        keep = (1.0 - paddings)[..., None]
        axes = tuple(range(x.ndim - 1))
        if train:
            count = jnp.maximum(jnp.sum(keep * jnp.ones_like(x), axis=axes), 1.0)
            mean = jnp.sum(x * keep, axis=axes) / count
            var = jnp.sum(jnp.square(x - mean) * keep, axis=axes) / count
            if not self.is_initializing():
                running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * mean
                running_var.value = self.momentum * running_var.value + (1 - self.momentum) * var
        else:
            mean, var = running_mean.value, running_var.value
        out = (x - mean) * (1 + scale) / jnp.sqrt(var + self.epsilon) + bias
        return out * keep


class _StridedConv(nn.Module):
    features: int
    activation: str

    @nn.compact
    def __call__(self, x, paddings):
        kernel = self.param(
            "kernel", nn.initializers.xavier_uniform(), (3, 3, x.shape[-1], self.features)
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        out = jax.lax.conv_general_dilated(
            x, kernel, window_strides=(2, 2), padding="SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        out = ACTIVATIONS[self.activation](out + bias)
        paddings = paddings[:, ::2]
        return out * (1.0 - paddings)[:, :, None, None], paddings


class ConvSubsampling(nn.Module):
    """[batch, frames, bins] -> [batch, frames / 4, (bins / 4) * features]; see module doc."""

    features: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, x, paddings):
        x = x[..., None]
        for _ in range(2):
            x, paddings = _StridedConv(self.features, self.activation)(x, paddings)
        batch, frames, bins, channels = x.shape
        return x.reshape(batch, frames, bins * channels), paddings
