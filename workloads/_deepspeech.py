"""The DeepSpeech 2-style model of AlgoPerf's `librispeech_deepspeech` workload (Amodei et al.
2016, "Deep Speech 2", arXiv 1512.02595).

Architecture as in AlgoPerf v0.5.0 (algorithmic_efficiency/workloads/librispeech_deepspeech/
librispeech_jax/models.py):

    audio -> log-mel features (80 bins) -> SpecAugment (training) -> ConvSubsampling (4x, ReLU)
      -> dense(512) -> dropout(0.1)
      -> 6 x [x + BiLSTM(BatchNorm(x))]       (256 units per direction, outputs concatenated)
      -> 3 x [x + dropout(ReLU(dense(512)(BatchNorm(x))))]
      -> LayerNorm -> dense(1024): per-frame logits for CTC

Variants: `activation="tanh"` replaces every ReLU (librispeech_deepspeech_tanh); `residual=False`
drops the residual sums (librispeech_deepspeech_no_resnet); `layernorm_everywhere=True` puts
LayerNorms where the BatchNorms were and drops the final LayerNorm, with 4 frequency and 15 time
masks in SpecAugment (librispeech_deepspeech_norm_and_spec_aug).

The LSTMs are Flax's (`nn.OptimizedLSTMCell` in `nn.RNN`, the backward direction reversing each
sequence within its unpadded length). AlgoPerf uses cuDNN-style LSTM weights with two bias
vectors per gate (input-side and hidden-side); Flax's cell has one, so each direction here has
4 x 256 fewer parameters (12,288 over the model, 0.07%).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax.numpy as jnp

from workloads._speech_frontend import SpecAugmentConfig, log_mel, spec_augment
from workloads._speech_layers import ACTIVATIONS, ConvSubsampling, MaskedBatchNorm, ScaledLayerNorm


@dataclasses.dataclass(frozen=True)
class DeepSpeechConfig:
    vocab_size: int = 1024
    encoder_dim: int = 512
    num_lstm_layers: int = 6
    num_ffn_layers: int = 3
    input_dropout: float = 0.1
    feed_forward_dropout: float = 0.1
    activation: str = "relu"
    residual: bool = True
    layernorm_everywhere: bool = False
    decoder_layer_norm: bool = True
    spec_augment: SpecAugmentConfig = SpecAugmentConfig()


def _dense(features: int) -> nn.Dense:
    return nn.Dense(features, kernel_init=nn.initializers.xavier_uniform())


class Normalization(nn.Module):
    """MaskedBatchNorm, or ScaledLayerNorm with `layernorm_everywhere`."""

    layer_norm: bool

    @nn.compact
    def __call__(self, x, paddings, train: bool):
        if self.layer_norm:
            return ScaledLayerNorm()(x)
        return MaskedBatchNorm()(x, paddings, train)


class BidirectionalLSTM(nn.Module):
    hidden: int

    @nn.compact
    def __call__(self, x, paddings):
        lengths = jnp.sum(1 - paddings, axis=1).astype(jnp.int32)
        forward = nn.RNN(nn.OptimizedLSTMCell(self.hidden))
        backward = nn.RNN(nn.OptimizedLSTMCell(self.hidden), reverse=True, keep_order=True)
        return nn.Bidirectional(forward, backward)(x, seq_lengths=lengths)


class FeedForward(nn.Module):
    config: DeepSpeechConfig

    @nn.compact
    def __call__(self, x, paddings, train: bool):
        cfg = self.config
        y = Normalization(cfg.layernorm_everywhere)(x, paddings, train)
        y = ACTIVATIONS[cfg.activation](_dense(cfg.encoder_dim)(y)) * (1.0 - paddings)[..., None]
        return nn.Dropout(cfg.feed_forward_dropout, deterministic=not train)(y)


class DeepSpeech(nn.Module):
    """(audio [batch, samples], paddings) -> (logits [batch, frames, vocab], frame paddings)."""

    config: DeepSpeechConfig = DeepSpeechConfig()

    @nn.compact
    def __call__(self, audio, paddings, train: bool = False):
        cfg = self.config
        x, paddings = log_mel(audio, paddings)
        if train:
            x, paddings = spec_augment(self.make_rng("dropout"), x, paddings, cfg.spec_augment)
        x, paddings = ConvSubsampling(cfg.encoder_dim, cfg.activation)(x, paddings)
        x = nn.Dropout(cfg.input_dropout, deterministic=not train)(_dense(cfg.encoder_dim)(x))
        for _ in range(cfg.num_lstm_layers):
            y = Normalization(cfg.layernorm_everywhere)(x, paddings, train)
            y = BidirectionalLSTM(cfg.encoder_dim // 2)(y, paddings)
            x = x + y if cfg.residual else y
        for _ in range(cfg.num_ffn_layers):
            y = FeedForward(cfg)(x, paddings, train)
            x = x + y if cfg.residual else y
        if cfg.decoder_layer_norm:
            x = ScaledLayerNorm()(x)
        return _dense(cfg.vocab_size)(x), paddings
