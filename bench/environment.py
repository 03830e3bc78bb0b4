"""Where a trial ran: hardware fingerprint, package versions, git commit.

Times are only comparable on the same hardware; the fingerprint is what scoring compares.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import jax

PACKAGES = ("bench", "jax", "jaxlib", "flax", "optax", "numpy")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def hardware() -> dict:
    """The devices a trial runs on, and a short fingerprint of them."""
    devices = jax.local_devices()
    facts = {
        "backend": jax.default_backend(),
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
    }
    digest = hashlib.sha256(repr(sorted(facts.items())).encode()).hexdigest()[:12]
    # the CPUs this process may run on (fewer than cpu_count for one of parallel trials,
    # `bench.devices.pin_to_device`): a fact of the run, not of the machine, so not fingerprinted
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {**facts, "fingerprint": digest, "hostname": platform.node(), "cpus": cpus}


@functools.cache
def versions() -> dict:
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


@functools.cache
def git_commit(path: str | None = None) -> str | None:
    """The commit of the bench checkout (with a `+dirty` mark), or None outside git."""
    where = path or str(Path(__file__).resolve().parent.parent)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where, capture_output=True, text=True, timeout=5,
        )
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def cache_root() -> Path:
    """Where bench keeps generated datasets and compiled programs ($BENCH_CACHE_DIR)."""
    return Path(os.environ.get("BENCH_CACHE_DIR", Path.home() / ".cache" / "bench"))


def enable_compilation_cache(directory: str | Path | None = None) -> Path | None:
    """Keep XLA's compiled programs on disk, so a second trial of a workload skips compiling.

    Compilation is not counted as submission time, but it is wall-clock time of every study.
    Off when BENCH_COMPILE_CACHE=0.
    """
    if os.environ.get("BENCH_COMPILE_CACHE", "1") == "0":
        return None
    path = Path(directory) if directory else cache_root() / "jax-compilation-cache"
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def initialize_distributed(coordinator: str | None, num_processes: int | None,
                           process_id: int | None) -> None:
    """Join a multi-host run (jax.distributed) before any device is touched.

    Every host runs the same `bench` command with its own --process-id; jax.devices() then
    lists the devices of all hosts and a trial runs data parallel over them (bench.devices).
    """
    if coordinator is None:
        return
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)
