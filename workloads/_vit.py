"""Vision Transformer (Dosovitskiy et al. 2020, "An Image is Worth 16x16 Words", arXiv 2010.11929)
in Flax, in the plain form of Beyer et al. 2022 ("Better plain ViT baselines for ImageNet-1k",
arXiv 2205.01580) that AlgoPerf's imagenet_vit workload uses, sized by a `ViTConfig`.

- Patches of `patch_size` pixels embedded by a strided convolution to `width` channels, plus
  fixed 2-D sine-cosine position embeddings (no class token).
- `depth` pre-LayerNorm encoder blocks: x + Attention(LN(x)), then x + MLP(LN(x)) with a GELU
  MLP of `mlp_dim` hidden units; dropout `dropout` after attention and inside the MLP.
- A final LayerNorm, global average pooling over patches, a pre-logits layer (dense `width`,
  tanh) and a zero-initialised linear head.

ViT-S/16 (the AlgoPerf model): width 384, depth 12, 6 heads, MLP 1536, patch 16 (about 22M
parameters at 1000 classes).

AlgoPerf's held-out variants (algoperf/workloads/imagenet_vit/imagenet_jax/models.py, v0.5):
- `glu`: the MLP multiplies its GELU output by a second dense layer of it,
  h = GELU(x W1 + b1); MLP(x) = ((h W2 + b2) * h) W3 + b3, with W2 of `mlp_dim` x `mlp_dim`;
- `post_ln`: LayerNorm after each residual sum, x = LN(x + Attention(x)), x = LN(x + MLP(x)),
  and no final LayerNorm;
- `map`: multi-head attention pooling (Lee et al. 2019, "Set Transformer", arXiv 1810.00825)
  instead of average pooling: a learnt probe token attends over the patches (`num_heads`
  heads), then p + MLP(LN(p)) with a plain GELU MLP of `mlp_dim`.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

xavier = nn.initializers.xavier_uniform()


@dataclasses.dataclass(frozen=True)
class ViTConfig:
    patch_size: int = 16
    width: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_dim: int = 1536
    num_classes: int = 1000
    dropout: float = 0.0
    glu: bool = False
    post_ln: bool = False
    map_head: bool = False


VIT_S16 = ViTConfig()


def tiny(config: ViTConfig) -> ViTConfig:
    """A small network of the same kind (patches, variant flags, classes) for smoke runs."""
    return dataclasses.replace(config, width=16, depth=1, num_heads=2, mlp_dim=32)


def sincos_2d_position_embedding(height: int, width: int, dim: int, temperature: float = 10_000.0):
    """Fixed embeddings [height * width, dim]: sin and cos of x and of y at dim/4 frequencies.

    Frequency k (k = 0 .. q - 1, q = dim/4) is temperature^(-k / (q - 1)), from 1 down to
    1/temperature (MoCo v3's and AlgoPerf's spacing); the channels are, in order,
    sin(x w_k), cos(x w_k), sin(y w_k), cos(y w_k), with x and y the patch column and row.
    """
    if dim % 4:
        raise ValueError(f"width {dim} must be a multiple of 4 for 2-D sine-cosine embeddings")
    quarter = dim // 4
    omega = 1.0 / temperature ** (np.arange(quarter) / max(quarter - 1, 1))
    rows, cols = np.mgrid[:height, :width]
    x = cols.reshape(-1)[:, None] * omega[None, :]
    y = rows.reshape(-1)[:, None] * omega[None, :]
    table = np.concatenate([np.sin(x), np.cos(x), np.sin(y), np.cos(y)], axis=1)
    return jnp.asarray(table, jnp.float32)


def _dense(features: int, name: str | None = None):
    return nn.Dense(features, kernel_init=xavier, bias_init=nn.initializers.normal(1e-6), name=name)


class _MLP(nn.Module):
    mlp_dim: int
    glu: bool
    dropout: float

    @nn.compact
    def __call__(self, x, train: bool):
        h = nn.gelu(_dense(self.mlp_dim)(x))
        if self.glu:
            h = h * _dense(self.mlp_dim)(h)
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        return _dense(x.shape[-1])(h)


class _EncoderBlock(nn.Module):
    num_heads: int
    mlp_dim: int
    dropout: float
    glu: bool = False
    post_ln: bool = False

    @nn.compact
    def __call__(self, x, train: bool):
        attention = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads, kernel_init=xavier, deterministic=True
        )
        mlp = _MLP(self.mlp_dim, self.glu, self.dropout)
        dropout = nn.Dropout(self.dropout, deterministic=not train)
        if self.post_ln:
            x = nn.LayerNorm()(x + dropout(attention(x, x)))
            return nn.LayerNorm()(x + dropout(mlp(x, train)))
        y = nn.LayerNorm()(x)
        x = x + dropout(attention(y, y))
        return x + dropout(mlp(nn.LayerNorm()(x), train))


class _AttentionPool(nn.Module):
    """Multi-head attention pooling: one learnt probe token attends over all tokens."""

    num_heads: int
    mlp_dim: int

    @nn.compact
    def __call__(self, x, train: bool):
        probe = self.param("probe", xavier, (1, 1, x.shape[-1]), x.dtype)
        probe = jnp.tile(probe, (x.shape[0], 1, 1))
        pooled = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, kernel_init=xavier)(
            probe, x
        )
        pooled = pooled + _MLP(self.mlp_dim, False, 0.0)(nn.LayerNorm()(pooled), train)
        return pooled[:, 0]


class ViT(nn.Module):
    config: ViTConfig = VIT_S16

    @nn.compact
    def __call__(self, x, train: bool = False):
        cfg = self.config
        p = cfg.patch_size
        x = nn.Conv(cfg.width, (p, p), strides=(p, p), padding="VALID", name="embedding")(x)
        batch, rows, cols, channels = x.shape
        x = x.reshape(batch, rows * cols, channels)
        x = x + sincos_2d_position_embedding(rows, cols, channels)[None]
        x = nn.Dropout(cfg.dropout, deterministic=not train)(x)
        for _ in range(cfg.depth):
            x = _EncoderBlock(cfg.num_heads, cfg.mlp_dim, cfg.dropout, cfg.glu, cfg.post_ln)(
                x, train
            )
        if not cfg.post_ln:
            x = nn.LayerNorm(name="encoder_norm")(x)
        if cfg.map_head:
            x = _AttentionPool(cfg.num_heads, cfg.mlp_dim)(x, train)
        else:
            x = jnp.mean(x, axis=1)
        x = nn.tanh(nn.Dense(cfg.width, name="pre_logits")(x))
        return nn.Dense(cfg.num_classes, kernel_init=nn.initializers.zeros, name="head")(x)
