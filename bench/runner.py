"""One trial under the time-to-result protocol (see `bench.protocol` for the rules).

`run_trial` trains one submission with one set of hyperparameters on one workload and returns a
`TrialResult`: plain data, no files. Writing records and skipping finished trials is
`bench.api.run`'s job; displaying progress is the caller's, through `on_progress`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax

from bench import checkpoint as ckpt, devices
from bench.protocol import Outcome, ProtocolSettings, SubmissionClock
from bench.submission import Submission
from bench.workload import Workload

MAX_CURVE_POINTS = 2000  # training-curve points kept per trial (longer runs are averaged in bins)


@dataclasses.dataclass
class TrialResult:
    outcome: Outcome
    message: str
    seed: int
    hparams: dict[str, Any]
    batch_size: int
    settings: ProtocolSettings
    steps: int = 0
    submission_time: float = 0.0
    eval_time: float = 0.0
    compile_time: float = 0.0
    wall_time: float = 0.0
    time_to_target: float | None = None
    steps_to_target: int | None = None
    evals: list[dict[str, float]] = dataclasses.field(default_factory=list)
    train_curve: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    resumed: int = 0  # how many times the trial was resumed from a checkpoint
    data_wait_time: float = 0.0  # submission time spent waiting for the input pipeline
    device_count: int = 1  # devices the trial ran on (data parallel)


@dataclasses.dataclass(frozen=True)
class Progress:
    """A snapshot handed to `on_progress`, outside the clock."""

    step: int
    submission_time: float
    max_runtime: float
    max_steps: int | None
    last_eval: dict[str, float] | None
    event: str  # "compiled", "step", "eval" or "end"


def injected_hyperparams(opt_state) -> dict | None:
    """The hyperparameters dict of the first `optax.inject_hyperparams` state holding a
    `learning_rate` (breadth first), or None."""
    stack = [opt_state]
    while stack:
        node = stack.pop(0)
        hyperparams = getattr(node, "hyperparams", None)
        if isinstance(hyperparams, dict) and "learning_rate" in hyperparams:
            return hyperparams
        if isinstance(node, (tuple, list)):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
    return None


def applied_learning_rate(opt_state) -> jax.Array:
    """The learning rate the optimizer state says it applied, or NaN when it does not say.

    Optimizers built with `optax.inject_hyperparams` keep their current hyperparameters in
    their state; the first `learning_rate` found there is the one logged.
    """
    hyperparams = injected_hyperparams(opt_state)
    value = jax.numpy.nan if hyperparams is None else hyperparams["learning_rate"]
    return jax.numpy.asarray(value, jax.numpy.float32)


def make_train_step(workload: Workload, optimizer: optax.GradientTransformation):
    """The harness-owned training step: gradients, optimizer update, apply.

    Returns the new state and the scalars logged for the step: the training loss, the learning
    rate applied (see `applied_learning_rate`) and the global l2 and l1 norms of the gradient,
    computed only when the traced flag `with_grad_norm` is true (NaN otherwise). The runner
    asks for them on the last step of each chunk of dispatched steps: on XLA's CPU backend a
    norm costs one extra kernel per parameter array, which added 5-9% to a 1 ms step when
    computed at every step, while the branch not taken costs nothing measurable
    (benchmarks/step_overhead.py). A traced flag, not a static one, so the step compiles once.
    """

    def grad_norms(grads):
        l2 = optax.tree.norm(grads)
        l1 = sum(jax.numpy.sum(jax.numpy.abs(g)) for g in jax.tree.leaves(grads))
        return jax.numpy.asarray([l2, l1], jax.numpy.float32)

    def no_grad_norms(grads):
        return jax.numpy.full(2, jax.numpy.nan, jax.numpy.float32)

    def train_step(params, model_state, opt_state, batch, rng, step, with_grad_norm):
        rng = jax.random.fold_in(rng, step)
        grad_fn = jax.value_and_grad(workload.loss, has_aux=True)
        (loss, model_state), grads = grad_fn(params, model_state, batch, rng, True)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        scalars = {
            "loss": loss,
            "learning_rate": applied_learning_rate(opt_state),
            "grad_norms": jax.lax.cond(with_grad_norm, grad_norms, no_grad_norms, grads),
        }
        return params, model_state, opt_state, scalars

    return jax.jit(train_step)


def _init_optimizer(optimizer: optax.GradientTransformation, params):
    """`optimizer.init(params)`, compiled as one program when it can be.

    Run op by op, a fresh process compiles every small operation of the initialisation
    separately (about 1 s for NadamW on CPU, against 0.2 s compiled whole). An `init` that
    cannot be traced is run as it is.
    """
    try:
        return jax.jit(optimizer.init)(params)
    except Exception:  # not traceable (Python logic on values): the submission's own way
        return optimizer.init(params)


WITH_NORM, WITHOUT_NORM = np.bool_(True), np.bool_(False)  # values of `with_grad_norm`


def _binned(values: list[float], steps: list[int], max_points: int) -> tuple[list, list]:
    """Average consecutive values into at most `max_points` bins, keyed by each bin's last step."""
    if len(values) <= max_points:
        return steps, values
    edges = np.linspace(0, len(values), max_points + 1).astype(int)
    array = np.asarray(values, dtype=np.float64)
    return (
        [steps[end - 1] for end in edges[1:]],
        [float(array[start:end].mean()) for start, end in zip(edges[:-1], edges[1:])],
    )


HOLDOUT_BATCHES = 4  # batches of the held-out slice a controller may measure the loss on


class TrainingHandle:
    """What a full-control submission's controller may do before each training step.

    The runner builds one per trial and calls `controller(handle)` before a step, inside the
    clock: everything the controller does is submission time. The controller returns None to
    be called again before the next step, or a number n of steps it can wait before its next
    call (which lets the runner dispatch those steps in one chunk). It sees the training split only:
    `holdout_loss` measures the loss on a fixed slice drawn from the training split with its own
    seed (the validation split stays the harness's).
    """

    def __init__(self, step, get_state, set_state, probe, holdout_loss):
        self._step, self._get, self._set = step, get_state, set_state
        self._probe, self._holdout_loss = probe, holdout_loss

    @property
    def step(self) -> int:
        """Training steps taken so far (probe steps not included)."""
        return self._step()

    def learning_rate(self) -> float:
        return float(applied_learning_rate(self._get()[2]))

    def set_learning_rate(self, value: float) -> None:
        """Set the learning rate of an optimizer built with `optax.inject_hyperparams`."""
        params, model_state, opt_state = self._get()
        opt_state = jax.tree.map(lambda x: x, opt_state)  # fresh containers, same arrays
        if not _set_learning_rate(opt_state, value):
            raise ValueError("the optimizer state has no injected learning_rate to set")
        self._set((params, model_state, opt_state))

    def snapshot(self):
        """The training state now (arrays are immutable: restoring it is exact)."""
        return self._get()

    def restore(self, snapshot) -> None:
        self._set(snapshot)

    def train(self, steps: int) -> list[float]:
        """Take `steps` probe steps on the training stream; their training losses."""
        return self._probe(steps)

    def holdout_loss(self) -> float:
        return self._holdout_loss()


def _set_learning_rate(opt_state, value) -> bool:
    hyperparams = injected_hyperparams(opt_state)
    if hyperparams is None:
        return False
    old = jax.numpy.asarray(hyperparams["learning_rate"])
    hyperparams["learning_rate"] = jax.numpy.asarray(value, old.dtype)
    return True


@dataclasses.dataclass(frozen=True)
class CheckpointPlan:
    """Where and how often an unfinished trial saves itself (see `bench.checkpoint`)."""

    path: Path
    every_seconds: float = 60.0  # wall-clock seconds between checkpoints, outside the clock


class TrialInterrupted(KeyboardInterrupt):
    """Raised (from Ctrl-C or SIGTERM) after the trial saved a checkpoint to resume from."""


def run_trial(
    workload: Workload,
    submission: Submission,
    hparams: dict[str, Any],
    *,
    seed: int = 0,
    settings: ProtocolSettings = ProtocolSettings(),
    on_progress: Callable[[Progress], None] | None = None,
    timer: Callable[[], float] = time.perf_counter,
    checkpoint: CheckpointPlan | None = None,
) -> TrialResult:
    """Train until target, budget or divergence; never raises for a failing submission.

    With `checkpoint`, the trial saves its state every `every_seconds` and when interrupted
    (KeyboardInterrupt, re-raised as `TrialInterrupted`), and resumes from an existing checkpoint
    of the same hyperparameters and seed with its submission time restored.
    """
    settings = settings.resolve(workload.spec)
    wall_start = timer()
    result = TrialResult(
        outcome=Outcome.ERROR,
        message="",
        seed=seed,
        hparams=dict(hparams),
        batch_size=workload.spec.batch_size,
        settings=settings,
    )
    try:
        _train(workload, submission, result, settings, on_progress, timer, checkpoint)
    except Exception as error:  # a failing submission is a result, not a crash
        result.outcome = Outcome.ERROR
        frames = traceback.format_exception(error)
        result.message = f"{type(error).__name__}: {error}\n{''.join(frames[-6:])}"
    result.wall_time += timer() - wall_start
    return result


@dataclasses.dataclass
class _Curve:
    """Scalars logged by the training step: loss and learning rate at every step, the
    gradient's l2 and l1 norms at the steps that ended a chunk (`norm_step`)."""

    step: list[int] = dataclasses.field(default_factory=list)
    loss: list[float] = dataclasses.field(default_factory=list)
    learning_rate: list[float] = dataclasses.field(default_factory=list)
    norm_step: list[int] = dataclasses.field(default_factory=list)
    grad_norm: list[float] = dataclasses.field(default_factory=list)
    grad_norm_l1: list[float] = dataclasses.field(default_factory=list)

    def append(self, step: int, scalars: dict, with_grad_norm: bool) -> None:
        self.step.append(step)
        self.loss.append(float(scalars["loss"]))
        self.learning_rate.append(float(scalars["learning_rate"]))
        if with_grad_norm:
            self.norm_step.append(step)
            l2, l1 = (float(x) for x in scalars["grad_norms"])
            self.grad_norm.append(l2)
            self.grad_norm_l1.append(l1)


def _train(workload, submission, result, settings, on_progress, timer, checkpoint):
    notify = on_progress or (lambda progress: None)
    init_rng, step_rng = jax.random.split(jax.random.key(result.seed))
    params, model_state = workload.init(init_rng)

    info = workload.info(params)
    if submission.batch_size is not None:
        result.batch_size = int(submission.batch_size(result.hparams, info))
        if result.batch_size < 1:
            raise ValueError(f"batch_size hook returned {result.batch_size}")
        info = workload.info(params, result.batch_size)
    optimizer = submission.make_optimizer(result.hparams, info)
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"make_optimizer returned {type(optimizer).__name__}, "
            "not an optax.GradientTransformation"
        )
    opt_state = _init_optimizer(optimizer, params)
    train_step = make_train_step(workload, optimizer)
    mesh = devices.data_mesh()
    result.device_count = mesh.devices.size
    place = devices.batch_placer(mesh, result.batch_size)
    params, model_state, opt_state = devices.replicate((params, model_state, opt_state), mesh)
    source = workload.train_batches(result.batch_size, result.seed)

    # Compile outside the clock: two throw-away steps, so that both the first call and the
    # calls on the step's own outputs (which may differ in weak types) are in jax's cache.
    compile_start = timer()
    first_batch = place(next(source))
    warm = train_step(params, model_state, opt_state, first_batch, step_rng, np.int32(0),
                      WITH_NORM)
    warm = train_step(*warm[:3], first_batch, step_rng, np.int32(1), WITH_NORM)
    jax.block_until_ready(warm)
    del warm
    result.compile_time = timer() - compile_start

    clock = SubmissionClock(timer)
    curve = _Curve()
    step = 0
    next_eval = settings.eval_period
    pending_batch = first_batch  # the warm-up batch is the first training batch

    if checkpoint is not None and checkpoint.path.exists():
        state, meta = ckpt.load(checkpoint.path, (params, model_state, opt_state))
        if meta["hparams"] != result.hparams or meta["seed"] != result.seed:
            raise ckpt.CheckpointError(
                f"checkpoint {checkpoint.path} belongs to other hyperparameters or another seed"
            )
        if meta["settings"] != dataclasses.asdict(settings):
            raise ckpt.CheckpointError(
                f"checkpoint {checkpoint.path} was saved under other protocol settings "
                f"({meta['settings']}); resume with the same options"
            )
        step, next_eval = meta["step"], meta["next_eval"]
        clock.elapsed = meta["submission_time"]
        result.eval_time, result.evals = meta["eval_time"], meta["evals"]
        result.compile_time += meta["compile_time"]
        result.wall_time = meta["wall_time"]
        result.resumed = meta.get("resumed", 0) + 1
        result.data_wait_time = meta.get("data_wait_time", 0.0)
        logged = dict(meta["curve"])
        logged.setdefault("norm_step", logged["step"])  # saved when the norm was per step
        logged.setdefault("grad_norm_l1", [math.nan] * len(logged["norm_step"]))
        curve = _Curve(**logged)
        params, model_state, opt_state = devices.replicate(state, mesh)
        if step:  # the data order is fixed by the seed: skip the batches already consumed
            source = _batches_after(workload, result, step)
            pending_batch = None

    batches = devices.batch_stream(source, place)
    controller, handle, controller_due = None, None, 0
    if submission.make_controller is not None:
        controller = submission.make_controller(result.hparams, info)
        holdout = [place(b) for b in itertools.islice(
            workload.train_batches(result.batch_size, result.seed + 1_000_003), HOLDOUT_BATCHES)]
        holdout_fn = jax.jit(lambda p, m, b: workload.loss(p, m, b, step_rng, False)[0])

        def get_state():
            return params, model_state, opt_state

        def set_state(state):
            nonlocal params, model_state, opt_state
            params, model_state, opt_state = state

        def probe(steps: int) -> list[float]:
            nonlocal params, model_state, opt_state
            losses = []
            for _ in range(steps):
                params, model_state, opt_state, scalars = train_step(
                    params, model_state, opt_state, next(batches), step_rng, np.int32(step),
                    WITHOUT_NORM)
                losses.append(scalars["loss"])
            return [float(x) for x in jax.device_get(losses)]

        def holdout_loss() -> float:
            values = [holdout_fn(params, model_state, b) for b in holdout]
            return float(np.mean(jax.device_get(values)))

        handle = TrainingHandle(lambda: step, get_state, set_state, probe, holdout_loss)
    wall_at_start = timer()
    last_checkpoint = timer()

    def save_checkpoint():
        meta = {
            "hparams": result.hparams, "seed": result.seed, "step": step,
            "settings": dataclasses.asdict(settings),
            "next_eval": next_eval, "submission_time": clock.elapsed,
            "eval_time": result.eval_time, "evals": result.evals,
            "compile_time": result.compile_time, "resumed": result.resumed,
            "data_wait_time": result.data_wait_time,
            "wall_time": result.wall_time + timer() - wall_at_start,
            "curve": dataclasses.asdict(curve),
        }
        ckpt.save(checkpoint.path, (params, model_state, opt_state), meta)

    def evaluate(step: int) -> bool:
        """Evaluate the current parameters; True when the validation target is met."""
        eval_params = params
        if submission.eval_params is not None:  # the hook is the submission's work: timed
            clock.start()
            eval_params = submission.eval_params(params, opt_state)
            clock.stop(eval_params)
        eval_start = timer()
        row: dict[str, float] = {"step": step, "submission_time": clock.elapsed}
        splits = ("validation", "test") if settings.evaluate_test else ("validation",)
        for split in splits:
            for key, value in workload.evaluate(eval_params, model_state, split).items():
                row[f"{split}/{key}"] = value
        if curve.loss:
            row["train/loss"] = float(np.mean(curve.loss[-50:]))
        row["eval_seconds"] = timer() - eval_start
        result.eval_time += row["eval_seconds"]
        result.evals.append(row)
        hit = workload.target_reached(
            {key.split("/", 1)[1]: v for key, v in row.items() if key.startswith("validation/")}
        )
        notify(Progress(step, clock.elapsed, settings.max_runtime, settings.max_steps, row, "eval"))
        return hit

    def eval_due(step: int) -> bool:
        if settings.eval_every_steps is not None:
            return step % settings.eval_every_steps == 0
        return clock.elapsed >= next_eval

    notify(Progress(step, clock.elapsed, settings.max_runtime, settings.max_steps, None, "compiled"))
    if step == 0 and evaluate(step):
        batches.close()
        result.outcome, result.time_to_target, result.steps_to_target = Outcome.HIT, 0.0, 0
        return _finish(result, clock, step, curve)
    last_notify = timer()
    chunk: list = []  # per-step scalars of the steps dispatched since the last synchronisation
    chunk_norms: list[bool] = []  # whether each of those steps computed the gradient norm
    chunk_size = 1

    def absorb() -> int | None:
        """Count the dispatched steps; the first step with a non-finite loss, if any."""
        nonlocal step
        first_bad = None
        for scalars, with_grad_norm in zip(jax.device_get(chunk), chunk_norms):
            step += 1
            curve.append(step, scalars, with_grad_norm)
            if first_bad is None and not math.isfinite(curve.loss[-1]):
                first_bad = step
        chunk.clear()
        chunk_norms.clear()
        return first_bad

    try:
        while True:
            # Dispatch a chunk of steps, then synchronise once and read the clock. Nothing but
            # training happens inside the span, so the time is exact; only the decisions below
            # (evaluate? stop?) are taken every `chunk_size` steps instead of every step, which
            # keeps the device busy instead of idling at every step's synchronisation.
            clock.start()
            if controller is not None and controller_due <= step:
                # The controller may say how many steps it can wait before its next call.
                wait = controller(handle)
                controller_due = step + (int(wait) if isinstance(wait, int) and wait > 0 else 1)
            if controller is not None:
                chunk_size = max(1, min(chunk_size, controller_due - step))
            for index in range(chunk_size):
                if pending_batch is None:
                    wait_start = timer()
                    batch = next(batches)
                    result.data_wait_time += timer() - wait_start
                else:
                    batch, pending_batch = pending_batch, None
                last = index == chunk_size - 1  # the gradient norm on the chunk's last step
                params, model_state, opt_state, scalars = train_step(
                    params, model_state, opt_state, batch, step_rng, np.int32(step + len(chunk)),
                    WITH_NORM if last else WITHOUT_NORM,
                )
                chunk.append(scalars)
                chunk_norms.append(last)
            span = clock.elapsed
            clock.stop(chunk[-1], params, opt_state)
            span = clock.elapsed - span
            dispatched = len(chunk)
            bad_step = absorb()

            if bad_step is not None:
                result.outcome = Outcome.DIVERGED
                result.message = f"training loss became {curve.loss[bad_step - curve.step[0]]} " \
                    f"at step {bad_step}"
                break
            out_of_budget = clock.elapsed >= settings.max_runtime or (
                settings.max_steps is not None and step >= settings.max_steps
            )
            if eval_due(step) or out_of_budget:
                while next_eval <= clock.elapsed:
                    next_eval += settings.eval_period
                if evaluate(step):
                    result.outcome = Outcome.HIT
                    result.time_to_target, result.steps_to_target = clock.elapsed, step
                    break
                if out_of_budget:
                    result.outcome = Outcome.BUDGET
                    result.message = (
                        f"target not reached within {clock.elapsed:.1f}s of submission time "
                        f"({step} steps)"
                    )
                    break
            chunk_size = _next_chunk_size(step, span / dispatched, settings, next_eval, clock.elapsed)
            if checkpoint is not None and timer() - last_checkpoint > checkpoint.every_seconds:
                save_checkpoint()
                last_checkpoint = timer()
            if timer() - last_notify > 0.2:
                last_notify = timer()
                notify(Progress(step, clock.elapsed, settings.max_runtime, settings.max_steps,
                                None, "step"))
    except KeyboardInterrupt:
        batches.close()
        if checkpoint is not None:
            if clock.running:  # interrupted mid-chunk: keep the steps already dispatched
                clock.stop(params, opt_state)
            absorb()
            save_checkpoint()
            raise TrialInterrupted(f"interrupted at step {step}; checkpoint {checkpoint.path}")
        raise
    except BaseException:
        batches.close()
        raise
    batches.close()
    _finish(result, clock, step, curve)


CHUNK_SECONDS = 0.02  # aim for a synchronisation about every 20 ms of training
MAX_CHUNK = 64


def _next_chunk_size(step, step_seconds, settings, next_eval, elapsed) -> int:
    """Steps to dispatch before the next synchronisation.

    About CHUNK_SECONDS of work, never past `max_steps` or a step-based evaluation, and never
    more than a tenth of the time left to the next time-based evaluation or to the budget, so
    that evaluations and the stop happen close to when they are due.
    """
    size = int(CHUNK_SECONDS / max(step_seconds, 1e-9))
    if settings.eval_every_steps is None:
        until = min(next_eval, settings.max_runtime) - elapsed
        size = min(size, int(0.1 * until / max(step_seconds, 1e-9)))
    else:
        size = min(size, settings.eval_every_steps - step % settings.eval_every_steps)
    if settings.max_steps is not None:
        size = min(size, settings.max_steps - step)
    return max(1, min(size, MAX_CHUNK))


def _batches_after(workload, result, step):
    """A fresh batch iterator positioned after the first `step` batches.

    Iterators with a `skip(count)` method (the tfds pipelines) jump there without building the
    skipped batches; others are advanced batch by batch.
    """
    batches = workload.train_batches(result.batch_size, result.seed)
    if hasattr(batches, "skip"):
        return batches.skip(step)
    for _ in range(step):
        next(batches)
    return batches


def _finish(result, clock, step, curve):
    result.steps = step
    result.submission_time = clock.elapsed
    steps, loss_values = _binned(curve.loss, curve.step, MAX_CURVE_POINTS)
    _, lr_values = _binned(curve.learning_rate, curve.step, MAX_CURVE_POINTS)
    lr_values = [value if math.isfinite(value) else None for value in lr_values]  # unknown: null
    norm_steps, norm_values = _binned(curve.grad_norm, curve.norm_step, MAX_CURVE_POINTS)
    _, l1_values = _binned(curve.grad_norm_l1, curve.norm_step, MAX_CURVE_POINTS)
    result.train_curve = {
        "step": steps, "loss": loss_values, "learning_rate": lr_values,
        "grad_norm_step": norm_steps, "grad_norm": norm_values, "grad_norm_l1": l1_values,
    }
