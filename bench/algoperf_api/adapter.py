"""Running a submission written against AlgoPerf's JAX submission API inside bench's trial loop.

AlgoPerf's submission runner (mlcommons/algorithmic-efficiency, submission_runner.py) calls a
submission module's functions in a fixed pattern; `AlgoPerfTrainer` reproduces that pattern while
bench's runner keeps the clock, the data order, evaluation and records:

- the trial's initial parameters come from the bench workload (`init`, the runner's seed);
  `init_optimizer_state(workload, params, model_state, hyperparameters, rng)` is called once;
- each training step is `data_selection(...)` then `update_params(...)` with `global_step` the
  number of steps taken before it (0 on the first) and the step's random keys derived as
  AlgoPerf derives them: fold the step into the trial key, split in four (data selection,
  update, prepare-for-eval, evaluation); keys are raw uint32[2] arrays, as AlgoPerf's
  `jax.random.PRNGKey` keys are;
- before each evaluation `prepare_for_eval(...)` runs, timed, and its returned state is both
  the state evaluated and the state training goes on from (AlgoPerf's semantics);
- `eval_results` is the list of (global_step, metrics) of the evaluations so far, with
  AlgoPerf's metric names ("validation/accuracy", ...); `hyperparameters` is a namedtuple
  called `Hyperparameters` with the point's names (AlgoPerf's `halton.generate_search`), or None
  when the point is empty (AlgoPerf's self-tuning ruleset).

Two parallelism styles. The jit/sharding style (AlgoPerf since 2025) gets parameters as plain
arrays and batches with a global first axis. The pmap style (the v0.5 leaderboard) is chosen
when the submission's source calls `pmap`: parameters and model state are replicated with a
leading device axis (`flax.jax_utils.replicate`, as v0.5's workloads returned them), batches are
reshaped to [devices, batch / devices, ...], and evaluation sees the first replica.

The batch size is the submission's `get_batch_size(workload_name)`; for a workload it does not
know (bench's cpu tier; `get_batch_size` raises ValueError, as AlgoPerf's baselines do) it is
the workload's default, after trying the name of the workload a variant is based on, as
AlgoPerf's runner does.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import importlib.util
import inspect
import sys
import warnings
from pathlib import Path
from types import MappingProxyType

import jax
import jax.numpy as jnp
import numpy as np

from bench.algoperf_api import modules
from bench.algoperf_api.facade import AlgoPerfWorkload


OPTIMIZER_INIT_FOLD = 2**31 - 1  # folded into the trial key for init_optimizer_state's key
# (training steps fold in their step number, far below it)


def hyperparameters(point: dict):
    """AlgoPerf's `Hyperparameters` namedtuple of `point`, or None for an empty point."""
    if not point:
        return None
    return collections.namedtuple("Hyperparameters", list(point))(**point)


def import_submission(path: Path):
    """Import the submission file, with bench's stand-ins for AlgoPerf's modules installed.

    The file's folder goes first on `sys.path`, so that a submission split over several files
    (helpers beside `submission.py`) imports its own modules.
    """
    modules.install()
    source = path.read_bytes()
    name = f"algoperf_submission_{hashlib.sha256(source).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def uses_pmap(module) -> bool:
    return "pmap" in inspect.getsource(module)


def batch_size(module, workload_name: str, base_name: str | None, default: int) -> int:
    """The submission's batch size for the workload (see the module docstring)."""
    for name in (workload_name, base_name):
        if name is None:
            continue
        try:
            return int(module.get_batch_size(name))
        except ValueError:
            continue
    return default


class OneBatch:
    """The input queue `data_selection` draws from: the step's batch, drawn by bench's runner.

    Bench owns the data order (fixed by the seed, the same for every submission), so a step
    gets exactly one batch; asking for a second is an error.
    """

    def __init__(self, batch):
        self._batch = batch

    def __iter__(self):
        return self

    def __next__(self):
        if self._batch is None:
            raise RuntimeError("bench's AlgoPerf adapter feeds data_selection one batch per step")
        batch, self._batch = self._batch, None
        return batch


KEY_BLOCK = 256  # steps whose keys are derived in one compiled call


@functools.partial(jax.jit, static_argnums=2)
def _key_block(rng, start, count: int):
    """AlgoPerf's per-step keys for steps start, ..., start + count - 1: fold the step into the
    trial key, split in four. Shape [count, 4, 2], raw uint32 keys."""
    def keys(step):
        return jax.random.split(jax.random.fold_in(rng, step), 4)

    block = jax.vmap(keys)(start + jnp.arange(count, dtype=jnp.int32))
    return jax.random.key_data(block) if jnp.issubdtype(block.dtype, jax.dtypes.prng_key) else block


class StepKeys:
    """The four keys of each step (data selection, update, prepare for eval, evaluation), derived
    a block of steps at a time and handed out from host memory: deriving them at every step
    costs a compiled call per step, as much as a small model's step."""

    def __init__(self, rng):
        self.rng, self.start, self.block = rng, None, None

    def __call__(self, step: int) -> np.ndarray:
        if self.start is None or not self.start <= step < self.start + KEY_BLOCK:
            self.start = step
            self.block = np.asarray(jax.device_get(_key_block(self.rng, np.int32(step), KEY_BLOCK)))
        return self.block[step - self.start]


class AlgoPerfTrainer:
    """One trial's AlgoPerf-API training: the runner's `make_trainer` hook returns one.

    `state` is the initial (params, model_state, optimizer_state) in the submission's layout;
    `step`, `prepare_for_eval`, `eval_view` and `observe_eval` are what the runner calls.
    """

    checkpointable = False  # AlgoPerf optimizer states hold functions (opt_update_fn)

    def __init__(self, module, workload, hparams: dict, params, model_state, rng, settings):
        self.module = module
        self.facade = AlgoPerfWorkload(workload, params, max_runtime=settings.max_runtime,
                                       eval_period=settings.eval_period)
        self.hyperparameters = hyperparameters(hparams)
        for name in ("label_smoothing", "dropout_rate"):
            if hparams.get(name):
                warnings.warn(f"{name}={hparams[name]} is ignored: bench workloads fix their "
                              "own loss and regularisation", stacklevel=2)
        self.pmap = uses_pmap(module)
        self.devices = jax.local_device_count()
        self.eval_results: list = []
        self.wants_train_state = "train_state" in inspect.signature(module.update_params).parameters
        self.keys = StepKeys(rng)
        if self.pmap:
            from flax import jax_utils

            params, model_state = jax_utils.replicate((params, model_state))
        opt_rng = jax.random.key_data(jax.random.fold_in(rng, OPTIMIZER_INIT_FOLD))
        opt_state = module.init_optimizer_state(
            self.facade, params, model_state, self.hyperparameters, opt_rng)
        self.state = (params, model_state, opt_state)

    def _shard(self, batch):
        if not self.pmap:
            return batch
        return jax.tree.map(lambda x: x.reshape((self.devices, -1) + x.shape[1:]), batch)

    def step(self, params, model_state, opt_state, batch, rng, step, with_grad_norm):
        """One AlgoPerf step; the runner's train-step signature. The scalars are the training
        loss and gradient norm the submission logged at this step, when it logged them."""
        del rng, with_grad_norm  # the keys come from the trial key given at construction
        global_step = int(step)
        data_rng, update_rng, _, _ = self.keys(global_step)
        batch = self.module.data_selection(
            self.facade, OneBatch(batch), opt_state, params, model_state, self.hyperparameters,
            global_step, data_rng)
        extra = {}
        if self.wants_train_state:
            extra["train_state"] = MappingProxyType({
                "validation_goal_reached": False, "test_goal_reached": False,
                "is_time_remaining": True, "training_complete": False})
        opt_state, params, model_state = self.module.update_params(
            workload=self.facade, current_param_container=params,
            current_params_types=self.facade.model_params_types, model_state=model_state,
            hyperparameters=self.hyperparameters, batch=self._shard(batch),
            loss_type=self.facade.loss_type, optimizer_state=opt_state,
            eval_results=self.eval_results, global_step=global_step, rng=update_rng, **extra)
        return params, model_state, opt_state, self._logged_scalars()

    def _logged_scalars(self) -> dict:
        logged = self.facade.metrics_logger.take()
        if not logged or "loss" not in logged:
            return {}
        grad_norm = logged.get("grad_norm", np.nan)
        return {"loss": jnp.ravel(jnp.asarray(logged["loss"]))[0],
                "learning_rate": np.float32(np.nan),
                "grad_norms": jnp.stack([jnp.ravel(jnp.asarray(grad_norm, jnp.float32))[0],
                                         jnp.float32(np.nan)])}

    def prepare_for_eval(self, params, model_state, opt_state, step):
        """AlgoPerf's `prepare_for_eval`, when the submission defines it; the new state."""
        prepare = getattr(self.module, "prepare_for_eval", None)
        if prepare is None:
            return params, model_state, opt_state
        _, _, prep_rng, _ = self.keys(int(step))
        opt_state, params, model_state = prepare(
            workload=self.facade, current_param_container=params,
            current_params_types=self.facade.model_params_types, model_state=model_state,
            hyperparameters=self.hyperparameters, loss_type=self.facade.loss_type,
            optimizer_state=opt_state, eval_results=self.eval_results, global_step=int(step),
            rng=prep_rng)
        return params, model_state, opt_state

    def eval_view(self, params, model_state):
        """The parameters and model state bench's evaluation reads (the first replica)."""
        if not self.pmap:
            return params, model_state
        return jax.tree.map(lambda x: x[0], (params, model_state))

    def observe_eval(self, step: int, row: dict) -> None:
        self.eval_results.append((int(step), dict(row)))
