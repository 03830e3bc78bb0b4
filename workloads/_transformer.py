"""The encoder-decoder Transformer of AlgoPerf's `wmt` workload, and greedy decoding with a cache.

Architecture (Vaswani et al. 2017, "Attention is all you need", arXiv 1706.03762), with the
choices of AlgoPerf's JAX model (algorithmic_efficiency/workloads/wmt/wmt_jax/models.py, v0.5.0,
itself after Flax's WMT example):

- one token embedding (normal init, stddev 1) shared by encoder, decoder and output layer; the
  logits are `embedding.attend(y) / sqrt(emb_dim)`;
- fixed sinusoidal position embeddings added to the token embeddings: for position p and
  feature i < d/2, sin(p * w_i) in the first half and cos(p * w_i) in the second, with
  w_i = exp(-i * ln(10^4) / (d/2 - 1));
- `num_layers` encoder blocks (self-attention, MLP) and decoder blocks (causal self-attention,
  encoder-decoder attention, MLP), each sub-layer residual with dropout; pre-LayerNorm by
  default (LayerNorm before each sub-layer and a final LayerNorm after each stack), post-LN
  (LayerNorm after each residual sum, no final one) for the `wmt_post_ln` variant;
- attention without biases, xavier-uniform kernels; the attention temperature multiplies the
  *query input* (so it scales the attention logits, since the query projection has no bias);
- MLP: dense(mlp_dim) -> activation [-> times a second dense(mlp_dim) of the input, with GLU]
  -> dropout -> dense(emb_dim) -> dropout; dense biases initialised N(0, 1e-6).

Token 0 is padding: attention masks ignore it. Training batches may be packed (several
sentence pairs per row): "segmentation" ids keep attention within a pair and "positions"
restart at 0 for each pair.

Decoding: `greedy_decode` runs the decoder one token at a time for `max_len` steps with the
keys and values of earlier steps kept in a cache (Flax's attention `decode=True`), starting from
token 0 and keeping, at every step, the most likely next token. AlgoPerf decodes with beam search
(beam 4, length penalty alpha 0.6); greedy decoding is cheaper and scores somewhat lower BLEU
for the same model.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS: dict[str, Callable] = {"relu": nn.relu, "tanh": jnp.tanh}


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int = 32_000
    emb_dim: int = 1024
    num_heads: int = 16
    num_layers: int = 6
    qkv_dim: int = 1024
    mlp_dim: int = 1024
    max_len: int = 256
    dropout: float = 0.1
    attention_dropout: float = 0.1
    pre_ln: bool = True
    attention_temp: float = 1.0
    activation: str = "relu"
    glu: bool = False


def sinusoidal_positions(max_len: int, dim: int) -> np.ndarray:
    """[max_len, dim] fixed position embeddings (see the module docstring)."""
    half = dim // 2
    position = np.arange(max_len)[:, None]
    frequencies = np.exp(-np.arange(half) * np.log(10_000.0) / (half - 1))
    table = np.zeros((max_len, dim), np.float32)
    table[:, :half] = np.sin(position * frequencies)
    table[:, half: 2 * half] = np.cos(position * frequencies)
    return table


def _dense(features: int) -> nn.Dense:
    return nn.Dense(
        features,
        kernel_init=nn.initializers.xavier_uniform(),
        bias_init=nn.initializers.normal(stddev=1e-6),
    )


class Mlp(nn.Module):
    config: TransformerConfig

    @nn.compact
    def __call__(self, x, train: bool):
        cfg = self.config
        hidden = ACTIVATIONS[cfg.activation](_dense(cfg.mlp_dim)(x))
        if cfg.glu:
            hidden = hidden * _dense(cfg.mlp_dim)(x)
        hidden = nn.Dropout(cfg.dropout, deterministic=not train)(hidden)
        out = _dense(x.shape[-1])(hidden)
        return nn.Dropout(cfg.dropout, deterministic=not train)(out)


class Attention(nn.Module):
    """Multi-head attention with the temperature on the query input (see module docstring)."""

    config: TransformerConfig
    decode: bool = False

    @nn.compact
    def __call__(self, queries, keys, mask, train: bool):
        cfg = self.config
        attention = nn.MultiHeadDotProductAttention(
            num_heads=cfg.num_heads,
            qkv_features=cfg.qkv_dim,
            kernel_init=nn.initializers.xavier_uniform(),
            use_bias=False,
            broadcast_dropout=False,
            dropout_rate=cfg.attention_dropout,
            deterministic=not train,
            decode=self.decode,
        )
        out = attention(cfg.attention_temp * queries, keys, mask=mask)
        return nn.Dropout(cfg.dropout, deterministic=not train)(out)


class Residual(nn.Module):
    """x + sublayer(LN(x)) (pre-LN) or LN(x + sublayer(x)) (post-LN)."""

    pre_ln: bool

    @nn.compact
    def __call__(self, x, sublayer: Callable):
        if self.pre_ln:
            return x + sublayer(nn.LayerNorm()(x))
        return nn.LayerNorm()(x + sublayer(x))


class EncoderBlock(nn.Module):
    config: TransformerConfig

    @nn.compact
    def __call__(self, x, mask, train: bool):
        cfg = self.config
        x = Residual(cfg.pre_ln)(x, lambda y: Attention(cfg)(y, y, mask, train))
        return Residual(cfg.pre_ln)(x, lambda y: Mlp(cfg)(y, train))


class DecoderBlock(nn.Module):
    config: TransformerConfig
    decode: bool = False

    @nn.compact
    def __call__(self, y, encoded, self_mask, cross_mask, train: bool):
        cfg = self.config
        y = Residual(cfg.pre_ln)(
            y, lambda z: Attention(cfg, decode=self.decode)(z, z, self_mask, train)
        )
        y = Residual(cfg.pre_ln)(y, lambda z: Attention(cfg)(z, encoded, cross_mask, train))
        return Residual(cfg.pre_ln)(y, lambda z: Mlp(cfg)(z, train))


def _shift_right(tokens):
    """Decoder inputs: the targets moved one step right, token 0 first."""
    return jnp.pad(tokens, ((0, 0), (1, 0)))[:, :-1]


class Transformer(nn.Module):
    """`__call__(inputs, targets)` -> logits [batch, target length, vocab]; see module docstring."""

    config: TransformerConfig
    decode: bool = False  # one target token per call, keys and values cached

    def setup(self):
        cfg = self.config
        self.embedding = nn.Embed(
            cfg.vocab_size, cfg.emb_dim, embedding_init=nn.initializers.normal(stddev=1.0)
        )
        self.positions = jnp.asarray(sinusoidal_positions(cfg.max_len, cfg.emb_dim))
        self.encoder_blocks = [EncoderBlock(cfg) for _ in range(cfg.num_layers)]
        self.decoder_blocks = [
            DecoderBlock(cfg, decode=self.decode) for _ in range(cfg.num_layers)
        ]
        if cfg.pre_ln:
            self.encoder_norm = nn.LayerNorm()
            self.decoder_norm = nn.LayerNorm()
        self.dropout = nn.Dropout(cfg.dropout)

    def _embed(self, tokens, positions, train: bool):
        if positions is None:
            positions = jnp.arange(tokens.shape[1])[None, :]
        x = self.embedding(tokens.astype(jnp.int32)) + self.positions[positions]
        return self.dropout(x, deterministic=not train)

    def encode(self, inputs, *, positions=None, segments=None, train: bool = False):
        mask = nn.make_attention_mask(inputs > 0, inputs > 0)
        if segments is not None:
            mask = nn.combine_masks(mask, nn.make_attention_mask(segments, segments, jnp.equal))
        x = self._embed(inputs, positions, train)
        for block in self.encoder_blocks:
            x = block(x, mask, train)
        return self.encoder_norm(x) if self.config.pre_ln else x

    def decode_logits(
        self, encoded, inputs, targets, *, positions=None, input_segments=None,
        target_segments=None, train: bool = False,
    ):
        """Logits for `targets` (the decoder's inputs are the targets shifted right).

        In decode mode `targets` is the previous token [batch, 1] and `positions` its position.
        """
        if self.decode:
            self_mask = None  # the cache masks positions not yet decoded
            cross_mask = nn.make_attention_mask(jnp.ones_like(targets) > 0, inputs > 0)
            y = targets
        else:
            self_mask = nn.combine_masks(
                nn.make_attention_mask(targets > 0, targets > 0), nn.make_causal_mask(targets)
            )
            cross_mask = nn.make_attention_mask(targets > 0, inputs > 0)
            if input_segments is not None:
                self_mask = nn.combine_masks(
                    self_mask,
                    nn.make_attention_mask(target_segments, target_segments, jnp.equal),
                )
                cross_mask = nn.combine_masks(
                    cross_mask, nn.make_attention_mask(target_segments, input_segments, jnp.equal)
                )
            y = _shift_right(targets)
        y = self._embed(y, positions, train)
        for block in self.decoder_blocks:
            y = block(y, encoded, self_mask, cross_mask, train)
        if self.config.pre_ln:
            y = self.decoder_norm(y)
        return self.embedding.attend(y) / jnp.sqrt(y.shape[-1])

    def __call__(self, inputs, targets, batch_extras=None, *, train: bool = False):
        """`batch_extras`: packed-batch keys inputs_positions, targets_positions, *_segmentation."""
        extras = batch_extras or {}
        encoded = self.encode(
            inputs, positions=extras.get("inputs_position"),
            segments=extras.get("inputs_segmentation"), train=train,
        )
        return self.decode_logits(
            encoded, inputs, targets, positions=extras.get("targets_position"),
            input_segments=extras.get("inputs_segmentation"),
            target_segments=extras.get("targets_segmentation"), train=train,
        )


def greedy_decode(config: TransformerConfig, params, inputs, eos_id: int, max_len: int):
    """[batch, max_len] greedily decoded tokens; after EOS every token is 0 (see module doc).

    Pure and jit-able (`config`, `eos_id` and `max_len` static).
    """
    model = Transformer(config)
    decoder = Transformer(config, decode=True)
    batch = inputs.shape[0]
    encoded = model.apply({"params": params}, inputs, method=Transformer.encode)
    cache_shapes = jax.eval_shape(
        lambda: decoder.init(
            jax.random.key(0), encoded, inputs, jnp.zeros((batch, max_len), jnp.int32),
            method=Transformer.decode_logits,
        )["cache"]
    )
    cache = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), cache_shapes)

    def step(carry, position):
        previous, cache, done = carry
        logits, variables = decoder.apply(
            {"params": params, "cache": cache}, encoded, inputs, previous[:, None],
            positions=jnp.full((batch, 1), position), mutable=["cache"],
            method=Transformer.decode_logits,
        )
        token = jnp.where(done, 0, jnp.argmax(logits[:, 0], axis=-1)).astype(jnp.int32)
        return (token, variables["cache"], done | (token == eos_id)), token

    start = (jnp.zeros(batch, jnp.int32), cache, jnp.zeros(batch, bool))
    _, tokens = jax.lax.scan(step, start, jnp.arange(max_len))
    return tokens.T
