"""Parameter counts of the full-size models equal AlgoPerf's JAX models' (AlgoPerf v0.5,
algoperf/workloads/*/*_jax/models.py), worked out by hand from those architectures.

Shapes come from `jax.eval_shape`: no full-size model is allocated (criteo1tb's embedding table
alone is 2 GB).
"""

from __future__ import annotations

import pytest

from workloads import criteo1tb, fastmri, imagenet, ogbg


def dense(fan_in, fan_out, bias=True):
    return fan_in * fan_out + (fan_out if bias else 0)


def layer_norm(width):
    return 2 * width


def dlrm_small(embed_init_layer_norm=False):
    """Embedding 4,194,304 x 128; bottom 13-512-256-128; dot interaction of 27 vectors (378
    values, diagonal included) + 128 -> top 506-1024-1024-512-256-1."""
    embedding = 4_194_304 * 128
    bottom = dense(13, 512) + dense(512, 256) + dense(256, 128)
    interaction = 27 * 28 // 2
    top = (dense(128 + interaction, 1024) + dense(1024, 1024) + dense(1024, 512)
           + dense(512, 256) + dense(256, 1))
    norms = 0
    if embed_init_layer_norm:  # after each hidden ReLU (3 bottom, 4 top) and on the embeddings
        norms = sum(layer_norm(w) for w in (512, 256, 128, 128, 1024, 1024, 512, 256))
    return embedding + bottom + top + norms


def dlrm_resnet():
    """Bottom 13-256-256-256; top on 256 + 26 * 128 = 3,584 inputs: 256-256-256-256-1."""
    embedding = 4_194_304 * 128
    bottom = dense(13, 256) + 2 * dense(256, 256)
    top = dense(256 + 26 * 128, 256) + 3 * dense(256, 256) + dense(256, 1)
    return embedding + bottom + top


def unet(channels=32, pools=4, layer_norm_blocks=False):
    """Conv blocks: two 3x3 convolutions without bias (LayerNorm scale+bias after each in the
    layernorm variant); up steps: a 2x2 transposed convolution without bias; 1x1 output conv."""
    def block(c_in, c_out):
        norms = 2 * layer_norm(c_out) if layer_norm_blocks else 0
        return 9 * c_in * c_out + 9 * c_out * c_out + norms

    total, c_in, c = 0, 1, channels
    for _ in range(pools):
        total += block(c_in, c)
        c_in, c = c, 2 * c
    total += block(c_in, c)  # bottom: channels * 2^pools
    for _ in range(pools):
        total += 4 * c * (c // 2) + block(c, c // 2)  # transposed conv, then block on the concat
        c //= 2
    return total + dense(channels, 1)


def resnet50():
    """ResNet-50 v1.5 (He et al.): 25,557,032, as counted for torchvision and AlgoPerf alike."""
    stem = 7 * 7 * 3 * 64 + 2 * 64
    total, c_in = stem, 64
    for stage, blocks in enumerate((3, 4, 6, 3)):
        width = 64 * 2**stage
        for index in range(blocks):
            total += c_in * width + 9 * width * width + width * 4 * width  # 1x1, 3x3, 1x1
            total += 2 * (2 * width) + 2 * (4 * width)  # batch-norm scales and biases
            if index == 0:
                total += c_in * 4 * width + 2 * 4 * width  # projection + its batch norm
            c_in = 4 * width
    return total + dense(2048, 1000)


def vit_s16(glu=False, post_ln=False, map_head=False):
    """Patch embedding 16x16x3 -> 384; 12 blocks (2 LayerNorms, attention q/k/v/out with bias,
    MLP 384-1536-384 [+ 1536x1536 for GLU]); final LayerNorm (not with post-LN); [MAP head:
    probe, attention, LayerNorm, MLP]; pre-logits 384-384; head 384-1000."""
    d, mlp = 384, 1536
    attention = 4 * dense(d, d)
    block_mlp = dense(d, mlp) + dense(mlp, d) + (dense(mlp, mlp) if glu else 0)
    blocks = 12 * (2 * layer_norm(d) + attention + block_mlp)
    head = (0 if post_ln else layer_norm(d)) + dense(d, d) + dense(d, 1000)
    pool = d + attention + layer_norm(d) + dense(d, mlp) + dense(mlp, d) if map_head else 0
    return dense(16 * 16 * 3, d) + blocks + head + pool


def graph_network(latent=256, hidden=(256,), steps=5):
    """Embeddings 9 -> latent and 3 -> latent; globals start as 128 zeros; per step MLPs (dense,
    LayerNorm) on [edge, sender, receiver, globals], [node, out-sum, in-sum, globals],
    [node-sum, edge-sum, globals]; decoder of the globals to 128."""
    def mlp(fan_in):
        total = 0
        for width in hidden:
            total += dense(fan_in, width) + layer_norm(width)
            fan_in = width
        return total

    total = dense(9, latent) + dense(3, latent)
    edge = node = latent
    glob = 128
    for _ in range(steps):
        total += mlp(edge + 2 * node + glob)
        edge = hidden[-1]
        total += mlp(node + 2 * edge + glob)
        node = hidden[-1]
        total += mlp(node + edge + glob)
        glob = hidden[-1]
    return total + dense(glob, 128)


EXPECTED = {
    criteo1tb.CRITEO1TB: dlrm_small(),
    criteo1tb.CRITEO1TB_LAYERNORM: dlrm_small(embed_init_layer_norm=True),
    criteo1tb.CRITEO1TB_RESNET: dlrm_resnet(),
    fastmri.FASTMRI: unet(),
    fastmri.FASTMRI_MODEL_SIZE: unet(channels=64, pools=3),
    fastmri.FASTMRI_LAYERNORM: unet(layer_norm_blocks=True),
    imagenet.IMAGENET_RESNET: resnet50(),
    imagenet.IMAGENET_VIT: vit_s16(),
    imagenet.IMAGENET_VIT_GLU: vit_s16(glu=True),
    imagenet.IMAGENET_VIT_POST_LN: vit_s16(post_ln=True),
    imagenet.IMAGENET_VIT_MAP: vit_s16(map_head=True),
    ogbg.OGBG: graph_network(),
    ogbg.OGBG_MODEL_SIZE: graph_network(latent=128, hidden=(256, 256), steps=3),
}


def test_hand_counts_of_well_known_models():
    assert resnet50() == 25_557_032
    assert dlrm_small() == 539_267_457  # 536,870,912 embedding + 171,392 bottom + 2,225,153 top
    assert unet() == 7_756_097


@pytest.mark.parametrize("workload", list(EXPECTED), ids=lambda w: w.name)
def test_full_size_parameter_count_matches_algoperf(workload):
    expected = EXPECTED[workload]
    assert workload.num_parameters() == pytest.approx(expected, rel=0.01)
    assert workload.num_parameters() == expected  # exact, for the architectures written here
