"""Checkpoints of an unfinished trial, so an interrupted run resumes with its clock restored.

A checkpoint is one file beside the trial's future record (`trial_<n>.ckpt`): the training state
(parameters, model state, optimizer state) serialised with Flax's msgpack serialisation, and the
loop's bookkeeping (step, submission time so far, evaluations, training curve, the trial's
hyperparameters and seed) as JSON inside it. It is written to a temporary file, flushed to disk
and renamed over the previous one, so a crash mid-write leaves the previous checkpoint intact.
Restoring needs a template of the state (a freshly initialised one), which fixes the tree
structure and dtypes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import numpy as np

from bench.trial.files import HarnessError, write_atomically


class CheckpointError(HarnessError, ValueError):
    """A checkpoint that cannot be read or does not belong to this trial (it is set aside, and
    the trial starts again; see `bench.trial.execute`)."""


def checkpoint_path(record_path: Path) -> Path:
    return record_path.with_suffix(".ckpt")


def save(path: Path, state: Any, meta: dict) -> None:
    """Atomically replace the checkpoint at `path` with `state` and `meta`."""
    state = jax.device_get(state)
    payload = flax.serialization.to_bytes({"state": state, "meta": json.dumps(meta)})
    try:
        write_atomically(path, payload, replace=True)
    except OSError as error:  # a full disk or lost permissions: the harness's failure
        raise HarnessError(f"cannot write checkpoint {path}: {error}") from error


def load(path: Path, template: Any) -> tuple[Any, dict]:
    """The state (shaped like `template`) and the bookkeeping saved at `path`."""
    try:
        restored = flax.serialization.from_bytes(
            {"state": jax.device_get(template), "meta": ""}, path.read_bytes()
        )
        meta = json.loads(restored["meta"])
    except Exception as error:  # msgpack, structure and JSON errors alike: one message
        raise CheckpointError(f"checkpoint {path} cannot be restored: {error}") from None
    state = jax.tree.map(lambda t, v: np.asarray(v, dtype=np.asarray(t).dtype), template,
                         restored["state"])
    return state, meta


def read_meta(path: Path) -> dict:
    """Only the bookkeeping of a checkpoint (no template needed): step, submission time, ..."""
    try:
        return json.loads(flax.serialization.msgpack_restore(path.read_bytes())["meta"])
    except Exception as error:
        raise CheckpointError(f"checkpoint {path} cannot be read: {error}") from None


def remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def mismatch(meta: dict, hparams: dict, seed: int, settings: dict) -> str | None:
    """Why a checkpoint's bookkeeping does not belong to this trial, or None when it does.

    `settings` are the trial's resolved protocol settings as a dict: a checkpoint saved under
    another budget or evaluation period cannot be continued under this one.
    """
    if meta.get("hparams") != hparams or meta.get("seed") != seed:
        return "it belongs to other hyperparameters or another seed"
    if meta.get("settings") != settings:
        changed = sorted(key for key in settings if meta.get("settings", {}).get(key)
                         != settings[key])
        detail = ", ".join(f"{key} {meta.get('settings', {}).get(key)} -> {settings[key]}"
                           for key in changed)
        return f"it was saved under other protocol settings ({detail})"
    return None
