"""A stand-in for AlgoPerf's `algoperf.jax_sharding_utils` (algorithmic-efficiency main, 2025).

AlgoPerf's jit-style submissions build their shardings from a one-axis mesh named "batch" over
all devices: parameters and optimizer state replicated, batches split along their first axis.
The same rule here, written for bench.
"""

from __future__ import annotations

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def _mesh() -> Mesh:
    return Mesh(jax.devices(), ("batch",))


def get_replicate_sharding() -> NamedSharding:
    """Every device holds the whole array."""
    return NamedSharding(_mesh(), PartitionSpec())


def get_batch_dim_sharding() -> NamedSharding:
    """The first axis is split across the devices."""
    return NamedSharding(_mesh(), PartitionSpec("batch"))


get_batch_sharding = get_batch_dim_sharding  # an older name some submissions use


def shard_along_batch_dim(tree):
    return jax.tree.map(lambda x: jax.device_put(x, get_batch_dim_sharding()), tree)


def replicate(tree):
    return jax.tree.map(lambda x: jax.device_put(x, get_replicate_sharding()), tree)
