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

Decoding runs the decoder one token at a time, starting from token 0, with the keys and values
of earlier steps kept in a cache (Flax's attention `decode=True`):

- `greedy_decode` keeps the most likely next token at every step;
- `beam_search` is AlgoPerf's (wmt_jax/decode.py, after Flax's WMT example and tensor2tensor):
  `beam_size` live hypotheses; at each step the 2 * beam_size best one-token extensions (by
  summed log-probability) are split into those ending in EOS, which join the finished set scored
  by log p / ((5 + n) / 6)^alpha for n generated tokens, and the rest, whose beam_size best stay
  live. The search ends after max_len - 1 tokens, or once every sentence has beam_size finished
  hypotheses all scoring above the best live log-probability divided by the largest length
  penalty (no live hypothesis can then overtake them). The best finished hypothesis wins (the
  best live one if none finished). AlgoPerf uses beam 4 and alpha 0.6.
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
    batch = inputs.shape[0]
    cache, step = cached_decoder(config, params, inputs, max_len)

    def next_token(carry, position):
        previous, cache, done = carry
        logits, cache = step(previous, jnp.full((batch,), position), cache)
        token = jnp.where(done, 0, jnp.argmax(logits, axis=-1)).astype(jnp.int32)
        return (token, cache, done | (token == eos_id)), token

    start = (jnp.zeros(batch, jnp.int32), cache, jnp.zeros(batch, bool))
    _, tokens = jax.lax.scan(next_token, start, jnp.arange(max_len))
    return tokens.T


NEG_INF = -1.0e7  # "minus infinity" for scores of empty beam slots, finite to keep sums finite


def cached_decoder(config: TransformerConfig, params, inputs, max_len: int):
    """(encoded inputs, empty cache, step) for decoding `inputs` one token at a time.

    step(tokens [rows], positions [rows], cache) -> (logits [rows, vocab], cache).
    """
    model, decoder = Transformer(config), Transformer(config, decode=True)
    encoded = model.apply({"params": params}, inputs, method=Transformer.encode)
    rows = inputs.shape[0]
    cache_shapes = jax.eval_shape(
        lambda: decoder.init(
            jax.random.key(0), encoded, inputs, jnp.zeros((rows, max_len), jnp.int32),
            method=Transformer.decode_logits,
        )["cache"]
    )
    cache = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), cache_shapes)

    def step(tokens, positions, cache):
        logits, variables = decoder.apply(
            {"params": params, "cache": cache}, encoded, inputs, tokens[:, None],
            positions=positions[:, None], mutable=["cache"], method=Transformer.decode_logits,
        )
        return logits[:, 0], variables["cache"]

    return cache, step


def length_penalty(length, alpha: float):
    """((5 + length) / 6) ** alpha (Wu et al. 2016, GNMT), the divisor of finished scores."""
    return ((5.0 + length) / 6.0) ** alpha


def _gather(tree, index):
    """x[b, index[b, j]] for every array x [batch, beams, ...] of the tree (scalars kept)."""
    rows = jnp.arange(index.shape[0])[:, None]
    return jax.tree.map(lambda x: x if x.ndim < 2 else x[rows, index], tree)


def _split_beams(tree, batch: int, beams: int):
    return jax.tree.map(lambda x: x if x.ndim < 1 else x.reshape(batch, beams, *x.shape[1:]), tree)


def _merge_beams(tree):
    return jax.tree.map(lambda x: x if x.ndim < 2 else x.reshape(-1, *x.shape[2:]), tree)


def beam_search(
    config: TransformerConfig, params, inputs, eos_id: int, max_len: int,
    beam_size: int = 4, alpha: float = 0.6,
):
    """[batch, max_len - 1] best translations by beam search (module docstring); zeros after EOS.

    Pure and jit-able (all but `params` and `inputs` static).
    """
    batch = inputs.shape[0]
    expanded = jnp.repeat(inputs, beam_size, axis=0)  # row b * beam_size + k is sentence b
    cache, step = cached_decoder(config, params, expanded, max_len)
    state = {
        "index": jnp.array(0),
        "live_logp": jnp.tile(jnp.array([0.0] + [NEG_INF] * (beam_size - 1)), (batch, 1)),
        "live": jnp.zeros((batch, beam_size, max_len), jnp.int32),
        "cache": _split_beams(cache, batch, beam_size),
        "done_score": jnp.full((batch, beam_size), NEG_INF),
        "done": jnp.zeros((batch, beam_size, max_len), jnp.int32),
        "done_flag": jnp.zeros((batch, beam_size), bool),
    }

    def searching(state):
        best_possible = state["live_logp"].max(axis=1) / length_penalty(max_len, alpha)
        worst_done = jnp.where(state["done_flag"], state["done_score"], NEG_INF).min(axis=1)
        settled = jnp.all(worst_done > best_possible)
        return (state["index"] < max_len - 1) & ~settled

    def extend(state):
        i = state["index"]
        tokens = state["live"][:, :, i].reshape(-1)
        logits, cache = step(tokens, jnp.full(tokens.shape, i), _merge_beams(state["cache"]))
        log_probs = jax.nn.log_softmax(logits).reshape(batch, beam_size, -1)
        log_probs = log_probs + state["live_logp"][:, :, None]
        vocab = log_probs.shape[-1]
        top_logp, top_index = jax.lax.top_k(log_probs.reshape(batch, -1), 2 * beam_size)
        parent, token = top_index // vocab, top_index % vocab
        sequences = _gather(state["live"], parent).at[:, :, i + 1].set(token)
        ended = token == eos_id
        # Live: the best extensions not ending in EOS, with their parents' caches.
        alive_logp = jnp.where(ended, NEG_INF, top_logp)
        _, keep = jax.lax.top_k(alive_logp, beam_size)
        cache = _gather(_split_beams(cache, batch, beam_size), _gather(parent, keep))
        # Finished: the best of the earlier finished and the extensions ending in EOS.
        scores = jnp.where(ended, top_logp / length_penalty(i + 1, alpha), NEG_INF)
        all_scores = jnp.concatenate([state["done_score"], scores], axis=1)
        _, best = jax.lax.top_k(all_scores, beam_size)
        done, done_score, done_flag = _gather(
            (jnp.concatenate([state["done"], sequences], axis=1), all_scores,
             jnp.concatenate([state["done_flag"], ended], axis=1)),
            best,
        )
        return {
            "index": i + 1, "live_logp": _gather(alive_logp, keep),
            "live": _gather(sequences, keep), "cache": cache, "done_score": done_score,
            "done": done, "done_flag": done_flag,
        }

    state = jax.lax.while_loop(searching, extend, state)
    any_done = jnp.any(state["done_flag"], axis=1)
    scores = jnp.where(any_done[:, None], state["done_score"], state["live_logp"])
    sequences = jnp.where(any_done[:, None, None], state["done"], state["live"])
    best = jnp.argmax(scores, axis=1)
    return sequences[jnp.arange(batch), best, 1:]
