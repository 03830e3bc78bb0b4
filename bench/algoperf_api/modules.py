"""Making `from algoperf import spec` work inside a trial process, without AlgoPerf installed.

`install()` registers bench's stand-ins under the module names AlgoPerf submissions import:
`algoperf.spec` and `algoperf.jax_sharding_utils` (AlgoPerf since 2024), and
`algorithmic_efficiency.spec` (the v0.5 leaderboard's name). It is called by the adapter just
before it imports a submission, so only in the process that runs the trial. The stand-ins are
installed whether or not AlgoPerf is installed, so a trial does not depend on what else the
environment holds.

It also restores `jax.tree_map`, which every JAX submission of the v0.5 leaderboard calls and
JAX removed in 0.6 (it is `jax.tree_util.tree_map`, unchanged), when the installed JAX lacks it.
"""

from __future__ import annotations

import sys
import types

import jax

from bench.algoperf_api import sharding, spec

PACKAGES = ("algoperf", "algorithmic_efficiency")


def install() -> None:
    for package_name in PACKAGES:
        package = types.ModuleType(package_name)
        package.__path__ = []  # a package: submodules resolve through sys.modules
        package.spec = spec
        package.jax_sharding_utils = sharding
        sys.modules[package_name] = package
        sys.modules[f"{package_name}.spec"] = spec
        sys.modules[f"{package_name}.jax_sharding_utils"] = sharding

    if not hasattr(jax, "tree_map"):
        jax.tree_map = jax.tree_util.tree_map
