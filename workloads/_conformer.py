"""The Conformer of AlgoPerf's `librispeech_conformer` workload (Gulati et al. 2020, "Conformer:
Convolution-augmented Transformer for speech recognition", arXiv 2005.08100).

Architecture as in AlgoPerf v0.5.0 (algorithmic_efficiency/workloads/librispeech_conformer/
librispeech_jax/models.py):

    audio -> log-mel features (80 bins) -> SpecAugment (training) -> ConvSubsampling (4x)
      -> dense(512) + sinusoidal positions -> dropout(0.1)
      -> 4 Conformer blocks -> LayerNorm -> dense(1024): per-frame logits for CTC

Conformer block (the `use_post_layer_norm` LayerNorm is dropped by the
librispeech_conformer_layernorm variant):

    x = x + 0.5 * FeedForward(x)     # LN, dense(4 * 512), swish (gelu variant), dense(512)
    x = x + SelfAttention(x)         # LN, 8 heads, learned per-dimension query scale
    x = x + Convolution(x)           # LN, GLU (two dense), depthwise conv k=5, BatchNorm, swish
    x = x + 0.5 * FeedForward(x)
    x = LayerNorm(x)

Residual dropout 0.1 after attention and feed-forward, 0 elsewhere; dense kernels xavier-uniform.
Attention queries are scaled per dimension by softplus(s) / softplus(0) (s initialised to 0)
before the usual 1 / sqrt(64); the attention output (before its output projection) is multiplied
by the attention temperature (1.6 in the librispeech_conformer_attention_temperature variant),
as AlgoPerf does. LayerNorms are `ScaledLayerNorm` (1 + scale); paddings flow alongside the
features and mask attention, convolution and BatchNorm statistics.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from workloads._speech_frontend import SpecAugmentConfig, log_mel, spec_augment
from workloads._speech_layers import ACTIVATIONS, ConvSubsampling, MaskedBatchNorm, ScaledLayerNorm


@dataclasses.dataclass(frozen=True)
class ConformerConfig:
    vocab_size: int = 1024
    encoder_dim: int = 512
    num_heads: int = 8
    num_layers: int = 4
    conv_kernel_size: int = 5
    feed_forward_expansion: int = 4
    attention_residual_dropout: float = 0.1
    feed_forward_residual_dropout: float = 0.1
    input_dropout: float = 0.1
    activation: str = "swish"
    post_layer_norm: bool = True
    attention_temperature: float = 1.0
    spec_augment: SpecAugmentConfig = SpecAugmentConfig()


def _dense(features: int) -> nn.Dense:
    return nn.Dense(features, kernel_init=nn.initializers.xavier_uniform())


def sinusoidal_positions(length: int, dim: int) -> np.ndarray:
    """[1, length, dim]: sin(p * w_i) then cos(p * w_i), w_i = 10^4^(-i / (dim/2 - 1))."""
    half = dim // 2
    frequencies = np.exp(-np.arange(half) * math.log(10_000.0) / max(half - 1, 1))
    angles = np.arange(length)[:, None] * frequencies[None, :]
    table = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    return np.pad(table, ((0, 0), (0, dim % 2)))[None].astype(np.float32)


class FeedForward(nn.Module):
    config: ConformerConfig

    @nn.compact
    def __call__(self, x, keep, train: bool):
        cfg = self.config
        y = _dense(cfg.encoder_dim * cfg.feed_forward_expansion)(ScaledLayerNorm()(x))
        y = ACTIVATIONS[cfg.activation](y) * keep
        y = _dense(cfg.encoder_dim)(y) * keep
        return nn.Dropout(cfg.feed_forward_residual_dropout, deterministic=not train)(y)


class QueryScale(nn.Module):
    """Per-dimension query scale softplus(s) / softplus(0), s initialised to 0."""

    @nn.compact
    def __call__(self, query):
        scale = self.param("scale", nn.initializers.zeros, (query.shape[-1],))
        return query * jax.nn.softplus(scale) / jax.nn.softplus(0.0)


def scaled_query_attention(
    query, key, value, mask=None, dropout_rng=None, dropout_rate=0.0, broadcast_dropout=True,
    deterministic=False, temperature: float = 1.0,
):
    """Flax's dot-product attention with `QueryScale` on the queries, output times temperature.

    Called inside Flax's attention module, so `QueryScale`'s parameter lives there.
    """
    weights = nn.dot_product_attention_weights(
        QueryScale()(query), key, mask=mask, dropout_rng=dropout_rng, dropout_rate=dropout_rate,
        broadcast_dropout=broadcast_dropout, deterministic=deterministic,
    )
    return jnp.einsum("...hqk,...khd->...qhd", weights, value) * temperature


class SelfAttention(nn.Module):
    config: ConformerConfig

    @nn.compact
    def __call__(self, x, paddings, train: bool):
        cfg = self.config
        valid = paddings < 1
        attention = nn.MultiHeadDotProductAttention(
            num_heads=cfg.num_heads,
            qkv_features=cfg.encoder_dim,
            kernel_init=nn.initializers.xavier_uniform(),
            bias_init=nn.initializers.zeros,
            use_bias=True,
            broadcast_dropout=False,
            dropout_rate=0.0,
            deterministic=not train,
            attention_fn=functools.partial(
                scaled_query_attention, temperature=cfg.attention_temperature
            ),
        )
        y = attention(ScaledLayerNorm()(x), mask=nn.make_attention_mask(valid, valid))
        return nn.Dropout(cfg.attention_residual_dropout, deterministic=not train)(y)


class Convolution(nn.Module):
    config: ConformerConfig

    @nn.compact
    def __call__(self, x, paddings, train: bool):
        cfg = self.config
        keep = (1.0 - paddings)[..., None]
        y = ScaledLayerNorm()(x)
        y = _dense(cfg.encoder_dim)(y) * jax.nn.sigmoid(_dense(cfg.encoder_dim)(y)) * keep
        y = nn.Conv(
            cfg.encoder_dim, (cfg.conv_kernel_size,), padding="SAME",
            feature_group_count=cfg.encoder_dim, use_bias=False,
            kernel_init=nn.initializers.xavier_uniform(),
        )(y)
        y = ACTIVATIONS[cfg.activation](MaskedBatchNorm()(y, paddings, train))
        return _dense(cfg.encoder_dim)(y)  # conv residual dropout is 0 in AlgoPerf


class ConformerBlock(nn.Module):
    config: ConformerConfig

    @nn.compact
    def __call__(self, x, paddings, train: bool):
        keep = (1.0 - paddings)[..., None]
        x = x + 0.5 * FeedForward(self.config)(x, keep, train)
        x = x + SelfAttention(self.config)(x, paddings, train)
        x = x + Convolution(self.config)(x, paddings, train)
        x = x + 0.5 * FeedForward(self.config)(x, keep, train)
        return ScaledLayerNorm()(x) if self.config.post_layer_norm else x


class Conformer(nn.Module):
    """(audio [batch, samples], paddings) -> (logits [batch, frames, vocab], frame paddings)."""

    config: ConformerConfig = ConformerConfig()

    @nn.compact
    def __call__(self, audio, paddings, train: bool = False):
        cfg = self.config
        x, paddings = log_mel(audio, paddings)
        if train:
            x, paddings = spec_augment(self.make_rng("dropout"), x, paddings, cfg.spec_augment)
        x, paddings = ConvSubsampling(cfg.encoder_dim)(x, paddings)
        x = _dense(cfg.encoder_dim)(x) + sinusoidal_positions(x.shape[1], cfg.encoder_dim)
        x = nn.Dropout(cfg.input_dropout, deterministic=not train)(x)
        for _ in range(cfg.num_layers):
            x = ConformerBlock(cfg)(x, paddings, train)
        x = ScaledLayerNorm()(x)
        return _dense(cfg.vocab_size)(x), paddings
