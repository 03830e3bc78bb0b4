"""One trial's training loop under the time-to-result protocol (the rules: `bench.protocol`).

`run_trial` trains one submission with one set of hyperparameters on one workload and returns a
`TrialResult` (plain data, no files; writing records is `bench.trial.execute`'s job, displaying
progress the caller's, through `on_progress`). `TrainingLoop` holds the trial's state and runs its
phases in order:

1. build: the submission's batch size, optimizer and optimizer state, placed on the devices
   (or, for a submission with a training step of its own, AlgoPerf's API through
   `bench.algoperf_api`, its trainer's state and step; such a trial keeps no checkpoints);
2. compile: outside the clock (`compile_time`), everything the clock will time: two throw-away
   training steps, the submission's evaluation hook on copies of the state, and the functions a
   controller's handle runs (learning rate set, probe step, held-out loss) on copies; so no
   program compiles inside the clock, and a cold compilation cache costs no submission time;
3. resume: restore the checkpoint of an interrupted run of the same trial, clock included;
4. chunk: dispatch a chunk of steps inside the clock, synchronise once, read their scalars;
5. evaluate: at step 0, when an evaluation is due, and at the end, outside the clock;
6. checkpoint: every `CheckpointPlan.every_seconds` and when interrupted (Ctrl-C, SIGTERM);
7. stop: at the target (`hit`), the budget (`budget`) or a non-finite loss (`diverged`).

A failure of the submission's code is the result `error`; a failure of the harness (a checkpoint
that cannot be read or written: `bench.trial.files.HarnessError`) is raised, never recorded as
the submission's.
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

from bench import devices, rules, speed, tamper
from bench.protocol import Outcome, ProtocolSettings, SubmissionClock
from bench.rules import with_rules
from bench.submission import Submission
from bench.trial import checkpoint as ckpt
from bench.trial import interrupt
from bench.trial.files import HarnessError
from bench.trial.record import TrialResult
from bench.workload import Workload

MAX_CURVE_POINTS = 2000  # training-curve points kept per trial (longer runs are averaged in bins)
HOLDOUT_BATCHES = 4  # batches of the held-out slice a controller may measure the loss on
CHUNK_SECONDS = 0.02  # aim for a synchronisation about every 20 ms of training
MAX_CHUNK = 64
NOTIFY_SECONDS = 0.2  # wall-clock seconds between "step" progress notifications
WITH_NORM, WITHOUT_NORM = np.bool_(True), np.bool_(False)  # values of `with_grad_norm`


@dataclasses.dataclass(frozen=True)
class Progress:
    """A snapshot handed to `on_progress`, outside the clock."""

    step: int
    submission_time: float
    max_runtime: float
    max_steps: int | None
    last_eval: dict[str, float] | None
    event: str  # "compiled", "resumed", "step", "eval" or "end"


@dataclasses.dataclass(frozen=True)
class CheckpointPlan:
    """Where and how often an unfinished trial saves itself (see `bench.trial.checkpoint`)."""

    path: Path
    every_seconds: float = 60.0  # wall-clock seconds between checkpoints, outside the clock


class TrialInterrupted(KeyboardInterrupt):
    """Raised (from Ctrl-C or SIGTERM) after the trial saved a checkpoint to resume from."""


# ------------------------------------------------------------------------- the training step


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
    computed only when the traced flag `with_grad_norm` is true (NaN otherwise). The loop asks
    for them on the last step of each chunk of dispatched steps: on XLA's CPU backend a norm
    costs one extra kernel per parameter array, which added 5-9% to a 1 ms step when computed
    at every step, while the branch not taken costs nothing measurable
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


def init_optimizer(optimizer: optax.GradientTransformation, params, timer=time.perf_counter):
    """`optimizer.init(params)`, compiled as one program when it can be.

    Run op by op, a fresh process compiles every small operation of the initialisation
    separately (about 1 s for NadamW on CPU, against 0.2 s compiled whole). An `init` that
    cannot be traced is run as it is. Returns the state, the seconds of the submission's work
    (tracing its Python code and running the program) and the seconds of compilation.
    """
    start = timer()
    try:
        lowered = jax.jit(optimizer.init).lower(params)
    except Exception:  # not traceable (Python logic on values): the submission's own way
        opt_state = jax.block_until_ready(optimizer.init(params))
        return opt_state, timer() - start, 0.0
    traced = timer()
    compiled = lowered.compile()
    compiled_at = timer()
    opt_state = jax.block_until_ready(compiled(params))
    return opt_state, (traced - start) + (timer() - compiled_at), compiled_at - traced


# ------------------------------------------------------------------ what a controller may do


class TrainingHandle:
    """What a full-control submission's controller may do before each training step.

    The loop builds one per trial and calls `controller(handle)` before a step, inside the
    clock: everything the controller does is submission time. The controller returns None to
    be called again before the next step, or a number n of steps it can wait before its next
    call (which lets the loop dispatch those steps in one chunk). It sees the training split only:
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
        hyperparams = injected_hyperparams(opt_state)
        if hyperparams is None:
            raise ValueError("the optimizer state has no injected learning_rate to set")
        old = jax.numpy.asarray(hyperparams["learning_rate"])
        # placed as the old value (committed to its devices): the training step then meets
        # the arguments it was compiled for, instead of compiling again inside the clock
        hyperparams["learning_rate"] = jax.device_put(np.asarray(value, old.dtype), old.sharding)
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


# ----------------------------------------------------------------------- the training curve


@dataclasses.dataclass
class Curve:
    """Scalars logged by the training step: loss and learning rate at every step, the
    gradient's l2 and l1 norms at the steps that ended a chunk (`norm_step`)."""

    step: list[int] = dataclasses.field(default_factory=list)
    loss: list[float] = dataclasses.field(default_factory=list)
    learning_rate: list[float] = dataclasses.field(default_factory=list)
    norm_step: list[int] = dataclasses.field(default_factory=list)
    grad_norm: list[float] = dataclasses.field(default_factory=list)
    grad_norm_l1: list[float] = dataclasses.field(default_factory=list)

    def append(self, step: int, scalars: dict, with_grad_norm: bool) -> None:
        if "loss" not in scalars:  # a trainer's step that logged nothing (bench.algoperf_api)
            return
        self.step.append(step)
        self.loss.append(float(scalars["loss"]))
        self.learning_rate.append(float(scalars["learning_rate"]))
        if with_grad_norm:
            self.norm_step.append(step)
            l2, l1 = (float(x) for x in scalars["grad_norms"])
            self.grad_norm.append(l2)
            self.grad_norm_l1.append(l1)

    @classmethod
    def restored(cls, logged: dict) -> Curve:
        """The curve saved in a checkpoint (older ones kept the norm at every step, no l1)."""
        logged = dict(logged)
        logged.setdefault("norm_step", logged["step"])
        logged.setdefault("grad_norm_l1", [math.nan] * len(logged["norm_step"]))
        return cls(**logged)

    def binned(self, max_points: int = MAX_CURVE_POINTS) -> dict[str, list]:
        """The record's `train_curve`: at most `max_points` points per series."""
        steps, loss_values = binned(self.loss, self.step, max_points)
        _, lr_values = binned(self.learning_rate, self.step, max_points)
        lr_values = [value if math.isfinite(value) else None for value in lr_values]  # unknown
        norm_steps, norm_values = binned(self.grad_norm, self.norm_step, max_points)
        _, l1_values = binned(self.grad_norm_l1, self.norm_step, max_points)
        return {
            "step": steps, "loss": loss_values, "learning_rate": lr_values,
            "grad_norm_step": norm_steps, "grad_norm": norm_values, "grad_norm_l1": l1_values,
        }


def copies(tree):
    """Fresh copies of the arrays of `tree` (other leaves, such as functions, as they are)."""
    return jax.tree.map(lambda x: x.copy() if isinstance(x, jax.Array) else x, tree)


def binned(values: list[float], steps: list[int], max_points: int) -> tuple[list, list]:
    """Average consecutive values into at most `max_points` bins, keyed by each bin's last step."""
    if len(values) <= max_points:
        return steps, values
    edges = np.linspace(0, len(values), max_points + 1).astype(int)
    array = np.asarray(values, dtype=np.float64)
    return (
        [steps[end - 1] for end in edges[1:]],
        [float(array[start:end].mean()) for start, end in zip(edges[:-1], edges[1:])],
    )


def steps_per_sync(step_seconds: float) -> int:
    """About CHUNK_SECONDS of steps taking `step_seconds` of the clock each, at most MAX_CHUNK:
    the chunk between synchronisations before any evaluation or stop cuts it (the reference
    point of a clock in reference seconds, `bench.speed`, is chunked by this too)."""
    return max(1, min(MAX_CHUNK, int(CHUNK_SECONDS / max(step_seconds, 1e-9))))


def next_chunk_size(step, step_seconds, settings, next_eval, elapsed) -> int:
    """Steps to dispatch before the next synchronisation.

    About CHUNK_SECONDS of work (`steps_per_sync`), never past `max_steps` or a step-based
    evaluation, and never more than a tenth of the time left to the next time-based evaluation
    or to the budget, so that evaluations and the stop happen close to when they are due.
    """
    size = steps_per_sync(step_seconds)
    if settings.eval_every_steps is None:
        until = min(next_eval, settings.max_runtime) - elapsed
        size = min(size, int(0.1 * until / max(step_seconds, 1e-9)))
    else:
        size = min(size, settings.eval_every_steps - step % settings.eval_every_steps)
    if settings.max_steps is not None:
        size = min(size, settings.max_steps - step)
    return max(1, size)


def batches_after(workload: Workload, batch_size: int, seed: int, step: int):
    """A fresh batch iterator positioned after the first `step` batches.

    Iterators with a `skip(count)` method (the tfds pipelines) jump there without building the
    skipped batches; others are advanced batch by batch.
    """
    batches = workload.train_batches(batch_size, seed)
    if hasattr(batches, "skip"):
        return batches.skip(step)
    for _ in range(step):
        next(batches)
    return batches


# --------------------------------------------------------------------------------- the loop


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
    reference: speed.ReferenceSteps | None = None,
) -> TrialResult:
    """Train until target, budget or divergence; never raises for a failing submission.

    With `checkpoint`, the trial saves its state every `every_seconds` and when interrupted
    (KeyboardInterrupt, re-raised as `TrialInterrupted`), and resumes from an existing checkpoint
    of the same hyperparameters, seed and settings with its submission time restored. A checkpoint
    that cannot be restored raises `CheckpointError`; one that cannot be written `HarnessError`.

    Under rules whose clock is in reference seconds (`bench.speed`), `reference` is the
    workload's reference point, compiled and first timed before the submission was imported
    (`bench.trial.backends.run_in_child`), which the trial trains beside itself; None starts it
    here, for a trusted submission (and closes it). A workload without a reference point raises
    `bench.speed.NoReferenceError`.
    """
    settings = settings.for_tier(workload.spec.tier)
    workload = with_rules(workload, settings.rules)
    if settings.step_hint is not None:  # target setting: the step hint it tunes at
        workload = workload.with_spec(dataclasses.replace(workload.spec,
                                                          step_hint=settings.step_hint))
    settings = settings.resolve(workload.spec)
    wall_start = timer()
    result = TrialResult(
        outcome=Outcome.ERROR, message="", seed=seed, hparams=dict(hparams),
        batch_size=workload.spec.batch_size, settings=settings,
    )
    owned = None  # a reference this trial started, so closes
    if rules.load(settings.rules).timing.clock == "reference" and reference is None:
        reference = owned = speed.start(workload, timer)
    try:
        TrainingLoop(workload, submission, result, on_progress, timer, checkpoint,
                     reference).run()
    except HarnessError:  # the harness failed, not the submission: nothing to record
        raise
    except tamper.TamperedError as error:  # the submission changed the harness's objects
        result.outcome, result.message = Outcome.TAMPERED, str(error)
    except Exception as error:  # a failing submission is a result, not a crash
        result.outcome = Outcome.ERROR
        frames = traceback.format_exception(error)
        result.message = f"{type(error).__name__}: {error}\n{''.join(frames[-6:])}"
    finally:
        if owned is not None:
            owned.close()
    result.wall_time += timer() - wall_start
    return result


class TrainingLoop:
    """The state of one trial's training and its phases (see the module docstring)."""

    def __init__(self, workload, submission, result: TrialResult, on_progress, timer,
                 checkpoint: CheckpointPlan | None, reference=None):
        self.workload, self.submission, self.result = workload, submission, result
        self.settings: ProtocolSettings = result.settings
        self.on_progress = on_progress or (lambda progress: None)
        self.timer, self.plan = timer, checkpoint
        self.reference = reference  # a bench.speed.ReferenceSteps: the clock's rate, or None
        self.clock = SubmissionClock(timer, 1.0 if reference is None else reference.rate)
        self.curve = Curve()
        self.step = 0
        self.next_eval = self.settings.eval_period
        self.chunk: list = []  # scalars of the steps dispatched since the last synchronisation
        self.chunk_norms: list[bool] = []  # whether each of those steps computed the norms
        self.chunk_size = 1
        self.controller, self.handle, self.controller_due = None, None, 0

    def run(self) -> None:
        self.build()
        self.compile()
        self.resume()
        self.batches = devices.batch_stream(self.source, self.place)
        try:
            self.start_controller()
            self.notify("compiled")
            if self.step == 0 and self.evaluate():  # outcome error: not a time of 0
                self.stop(Outcome.ERROR, "the validation target was met at the step-0 "
                          "evaluation, before any training: the target is too easy, or the "
                          "submission altered the model")
            else:
                self.train()
        except KeyboardInterrupt:
            if self.plan is None:
                raise
            self.save_interrupted()
            raise TrialInterrupted(f"interrupted at step {self.step}; "
                                   f"checkpoint {self.plan.path}") from None
        finally:
            self.batches.close()
        self.finish()

    def notify(self, event: str, last_eval: dict | None = None) -> None:
        self.on_progress(Progress(self.step, self.clock.elapsed, self.settings.max_runtime,
                                  self.settings.max_steps, last_eval, event))

    # ----------------------------------------------------------------- build and compile

    def build(self) -> None:
        """The submission's optimizer and the initial state, placed on the devices."""
        workload, submission, result = self.workload, self.submission, self.result
        self.check_untouched_since_import()
        self.init_rng, self.step_rng = jax.random.split(jax.random.key(result.seed))
        params, model_state = workload.init(self.init_rng)
        self.info = workload.info(params)
        if submission.batch_size is not None:
            result.batch_size = int(submission.batch_size(result.hparams, self.info))
            if result.batch_size < 1:
                raise ValueError(f"batch_size hook returned {result.batch_size}")
            self.info = workload.info(params, result.batch_size)
        self.mesh = devices.data_mesh()
        result.device_count = self.mesh.devices.size
        self.place = devices.batch_placer(self.mesh, result.batch_size)
        self.trainer = None
        result.setup_time = {"import": submission.import_seconds}
        if submission.make_trainer is not None:
            self.build_trainer(params, model_state)
        else:
            self.build_optimizer(params, model_state)
        self.source = workload.train_batches(result.batch_size, result.seed)

    def build_optimizer(self, params, model_state) -> None:
        """The submission's optax optimizer, its initial state and bench's training step; the
        seconds spent in `make_optimizer` and `optimizer.init` go into `result.setup_time`."""
        result = self.result
        built_at = self.timer()
        optimizer = self.submission.make_optimizer(result.hparams, self.info)
        result.setup_time["make_optimizer"] = self.timer() - built_at
        if not isinstance(optimizer, optax.GradientTransformation):
            raise TypeError(f"make_optimizer returned {type(optimizer).__name__}, "
                            "not an optax.GradientTransformation")
        opt_state, result.setup_time["optimizer_init"], self.init_compile_time = init_optimizer(
            optimizer, params, self.timer)
        self.train_step = make_train_step(self.workload, optimizer)
        self.state = devices.replicate((params, model_state, opt_state), self.mesh)

    def build_trainer(self, params, model_state) -> None:
        """A submission with its own training step (AlgoPerf's API, `bench.algoperf_api`): its
        trainer lays out the state and steps it. Its optimizer state may hold functions, so
        the trial neither saves nor resumes checkpoints."""
        built_at = self.timer()
        self.trainer = self.submission.make_trainer(
            self.workload, self.result.hparams, params, model_state, self.step_rng, self.settings)
        self.result.setup_time["make_trainer"] = self.timer() - built_at
        self.init_compile_time = 0.0
        self.state = tuple(self.trainer.state)
        self.train_step = self.trainer.step
        self.plan = None

    def compile(self) -> None:
        """Compile outside the clock everything the trial runs inside it: the training step,
        the submission's evaluation hook and the functions a controller calls through its
        handle. No program then compiles while the clock runs, so a cold compilation cache
        costs no submission time; the seconds are `compile_time`, counted where the rules
        count compilation (AlgoPerf times the first step's and the hook's compilation)."""
        start = self.timer()
        self.check_no_new_threads()  # the import, make_optimizer and init started none
        before = tamper.python_threads()
        self.pending_batch = self.place(next(self.source))  # also the first training batch
        if self.submission.make_controller is not None:
            self.prepare_holdout()
        self.threads |= tamper.python_threads() - before  # the workload's input pipelines'
        trained = self.warm_train_step()
        self.warm_eval_hook(trained)
        self.warm_controller_harness(trained)
        self.result.compile_time = self.timer() - start + self.init_compile_time
        self.check_untouched_by_setup()

    def warm_train_step(self) -> tuple:
        """Two throw-away steps, so that both the first call and the calls on the step's own
        outputs (which may differ in weak types) are in jax's cache; the state after them.
        A trainer's step may donate its inputs: it warms up on copies."""
        state = self.state if self.trainer is None else copies(self.state)
        warm = self.train_step(*state, self.pending_batch, self.step_rng, np.int32(0), WITH_NORM)
        warm = self.train_step(*warm[:3], self.pending_batch, self.step_rng, np.int32(1),
                               WITH_NORM)
        return tuple(jax.block_until_ready(warm[:3]))

    def warm_eval_hook(self, trained: tuple) -> None:
        """The submission's evaluation hook (`eval_params`, a trainer's `prepare_for_eval`) on
        copies of the initial state, as at the step-0 evaluation, and on the throw-away trained
        state, as at the later ones. It is the submission's code: it never sees the live state,
        and what it changes is caught by the tamper check after setup."""
        if self.trainer is None and self.submission.eval_params is None:
            return
        for params, model_state, opt_state in (copies(self.state), trained):
            if self.trainer is not None:
                jax.block_until_ready(
                    self.trainer.prepare_for_eval(params, model_state, opt_state, 0))
            else:
                jax.block_until_ready(self.submission.eval_params(params, opt_state))

    def warm_controller_harness(self, trained: tuple) -> None:
        """What a controller's handle runs, on copies of the initial state and on the
        throw-away trained state: reading and setting the learning rate, a probe step from the
        state that set, the held-out loss. The controller itself is the submission's code with
        a state of its own: its first call is inside the clock."""
        if self.submission.make_controller is None:
            return
        for state in (copies(self.state), trained):
            handle = self.throwaway_handle(state)
            if injected_hyperparams(state[2]) is not None:
                handle.set_learning_rate(handle.learning_rate())
            handle.train(1)
            handle.holdout_loss()

    def throwaway_handle(self, state: tuple) -> TrainingHandle:
        """A handle over a throw-away `state`, whose probe steps all take the first batch."""
        box = [tuple(state)]

        def set_state(new) -> None:
            box[0] = tuple(new)

        def probe(steps: int) -> list[float]:
            losses = []
            for _ in range(steps):
                box[0], loss = self.probe_step(box[0], self.pending_batch)
                losses.append(float(loss))
            return losses

        return TrainingHandle(lambda: 0, lambda: box[0], set_state, probe,
                              lambda: self.holdout_loss(box[0]))

    # ------------------------------------------------------------------ tamper evidence

    def check_untouched_since_import(self) -> None:
        """The harness objects as before the submission's import (when the trial process noted
        them, `bench.tamper.note_before_import`); then the reference for the setup."""
        noted = tamper.before_import(self.workload)
        if noted is not None:
            tamper.verify(noted[0], self.workload, when="when the submission was imported")
        self.untouched = tamper.fingerprint(self.workload)
        self.threads = noted[1] if noted is not None else tamper.python_threads()

    def check_untouched_by_setup(self) -> None:
        """After make_optimizer, init and the compile warm-up (which ran the submission's update
        and evaluation hook): nothing changed, no new thread. Then start the clock at the
        setup's seconds where they count, and take the reference the chunks and evaluations
        are compared with."""
        tamper.verify(self.untouched, self.workload,
                      when="while the optimizer was built and compiled")
        self.check_no_new_threads()
        if self.settings.count_setup_time:
            self.clock.add(sum(value or 0.0 for value in self.result.setup_time.values()))
        if self.settings.count_compile_time:
            self.clock.add(self.result.compile_time)
        self.untouched = tamper.fingerprint(self.workload, self.clock, self.train_step,
                                            self.reference)

    def check_no_new_threads(self) -> None:
        """No Python thread beyond those alive before the import and the workload's own."""
        if tamper.python_threads() - self.threads:
            raise tamper.TamperedError("the submission started threads of its own")

    def check_untouched(self) -> None:
        tamper.verify(self.untouched, self.workload, self.clock, self.train_step,
                      when=f"by step {self.step}", reference=self.reference)

    # --------------------------------------------------------------------------- resume

    def resume(self) -> None:
        """Continue from the checkpoint of an interrupted run of this trial, if there is one."""
        if self.plan is None or not self.plan.path.exists():
            return
        result, path = self.result, self.plan.path
        state, meta = ckpt.load(path, self.state)
        problem = ckpt.mismatch(meta, result.hparams, result.seed,
                                dataclasses.asdict(self.settings))
        if problem:
            raise ckpt.CheckpointError(f"checkpoint {path} cannot be resumed: {problem}")
        self.step, self.next_eval = meta["step"], meta["next_eval"]
        self.clock.elapsed = meta["submission_time"]
        result.eval_time, result.evals = meta["eval_time"], meta["evals"]
        result.compile_time += meta["compile_time"]
        result.wall_time = meta["wall_time"]
        result.resumed = meta.get("resumed", 0) + 1
        result.resumed_from_step = self.step
        result.data_wait_time = meta.get("data_wait_time", 0.0)
        self.curve = Curve.restored(meta["curve"])
        self.state = devices.replicate(state, self.mesh)
        if self.step:  # the data order is fixed by the seed: skip the batches already consumed
            devices.close_source(self.source)
            self.source = batches_after(self.workload, result.batch_size, result.seed, self.step)
            self.pending_batch = None
        self.notify("resumed")

    # ----------------------------------------------------------------------- controller

    def prepare_holdout(self) -> None:
        """The fixed slice a controller measures the loss on (the first batches of the
        training split drawn with a seed of its own) and the loss function jitted for it."""
        workload, result = self.workload, self.result
        stream = workload.train_batches(result.batch_size, result.seed + 1_000_003)
        self.holdout = [self.place(b) for b in itertools.islice(stream, HOLDOUT_BATCHES)]
        devices.close_source(stream)
        self.holdout_fn = jax.jit(
            lambda p, m, b: workload.loss(p, m, b, self.step_rng, False)[0])

    def start_controller(self) -> None:
        """A full-control submission's controller and the handle it steers training through
        (the holdout batches and the functions the handle runs were prepared by `compile`)."""
        if self.submission.make_controller is None:
            return
        self.controller = self.submission.make_controller(self.result.hparams, self.info)
        self.handle = TrainingHandle(lambda: self.step, lambda: self.state, self.set_state,
                                     self.probe, self.holdout_loss)

    def set_state(self, state) -> None:
        self.state = tuple(state)

    def probe(self, steps: int) -> list[float]:
        """Probe steps for the controller: training steps that do not count as steps."""
        losses = []
        for _ in range(steps):
            self.state, loss = self.probe_step(self.state, next(self.batches))
            losses.append(loss)
        return [float(x) for x in jax.device_get(losses)]

    def probe_step(self, state: tuple, batch) -> tuple[tuple, jax.Array]:
        """The training step from `state` without the gradient norms: the new state, the loss."""
        *state, scalars = self.train_step(*state, batch, self.step_rng, np.int32(self.step),
                                          WITHOUT_NORM)
        return tuple(state), scalars["loss"]

    def holdout_loss(self, state: tuple | None = None) -> float:
        """The mean loss on the holdout batches, of the current state or of `state`."""
        params, model_state, _ = self.state if state is None else state
        values = [self.holdout_fn(params, model_state, b) for b in self.holdout]
        return float(np.mean(jax.device_get(values)))

    def call_controller(self) -> None:
        """Call the controller when due; it may say how many steps it can wait (then the chunk
        is cut there)."""
        if self.controller_due <= self.step:
            wait = self.controller(self.handle)
            waited = int(wait) if isinstance(wait, int) and wait > 0 else 1
            self.controller_due = self.step + waited
        self.chunk_size = max(1, min(self.chunk_size, self.controller_due - self.step))

    # --------------------------------------------------------------------------- chunks

    def train(self) -> None:
        """Chunks of steps until a stop; checkpoints and progress between chunks."""
        last_checkpoint = last_notify = self.wall_at_start = self.timer()
        while True:
            interrupt.raise_if_stop_requested()  # a stop whose own exception was swallowed
            span, dispatched = self.run_chunk()
            self.pace_reference()
            if self.decide():
                return
            self.chunk_size = next_chunk_size(self.step, span / dispatched, self.settings,
                                              self.next_eval, self.clock.elapsed)
            if self.plan is not None and self.timer() - last_checkpoint > self.plan.every_seconds:
                self.save_checkpoint()
                last_checkpoint = self.timer()
            if self.timer() - last_notify > NOTIFY_SECONDS:
                last_notify = self.timer()
                self.notify("step")

    def run_chunk(self) -> tuple[float, int]:
        """Dispatch a chunk of steps, then synchronise once and read the clock.

        Nothing but training happens inside the span, so the time is exact; only the decisions
        (evaluate? stop?) are taken every `chunk_size` steps instead of every step, which keeps
        the device busy instead of idling at every step's synchronisation. Returns the span's
        seconds and the number of steps dispatched.
        """
        before = self.clock.elapsed
        self.clock.start()
        if self.controller is not None:
            self.call_controller()
        self.dispatch(self.chunk_size)
        self.clock.stop(self.chunk[-1], self.state[0], self.state[2])
        dispatched = len(self.chunk)
        self.bad_step = self.absorb()
        self.check_untouched()
        return self.clock.elapsed - before, dispatched

    def dispatch(self, size: int) -> None:
        """Queue `size` training steps (the hot loop: local names only)."""
        train_step, rng, batches, timer = self.train_step, self.step_rng, self.batches, self.timer
        chunk, norms, first = self.chunk, self.chunk_norms, self.step + len(self.chunk)
        params, model_state, opt_state = self.state
        batch, self.pending_batch = self.pending_batch, None
        waited = 0.0
        try:
            for index in range(size):
                if batch is None:
                    wait_start = timer()
                    batch = next(batches)
                    waited += timer() - wait_start
                last = index == size - 1  # the gradient norm on the chunk's last step
                params, model_state, opt_state, scalars = train_step(
                    params, model_state, opt_state, batch, rng, np.int32(first + index),
                    WITH_NORM if last else WITHOUT_NORM)
                batch = None
                chunk.append(scalars)
                norms.append(last)
        finally:  # also when interrupted mid-chunk: keep the steps already dispatched
            self.state = (params, model_state, opt_state)
            self.result.data_wait_time += waited

    def absorb(self) -> int | None:
        """Count the dispatched steps; the first step with a non-finite loss, if any."""
        first_bad = None
        for scalars, with_grad_norm in zip(jax.device_get(self.chunk), self.chunk_norms):
            self.step += 1
            self.curve.append(self.step, scalars, with_grad_norm)
            if first_bad is None and "loss" in scalars and not math.isfinite(self.curve.loss[-1]):
                first_bad = self.step
        self.chunk.clear()
        self.chunk_norms.clear()
        return first_bad

    # ------------------------------------------------------------------ evaluate and stop

    def eval_due(self) -> bool:
        if self.settings.eval_every_steps is not None:
            return self.step % self.settings.eval_every_steps == 0
        return self.clock.elapsed >= self.next_eval

    def evaluate(self, last: bool = False) -> bool:
        """Evaluate the current parameters; True when the validation target is met. `last`:
        the trial ends after this evaluation whatever it shows (the budget is spent)."""
        params, model_state, opt_state = self.state
        clock, result = self.clock, self.result
        if self.trainer is not None:  # AlgoPerf's prepare_for_eval: timed, and training goes on
            clock.start()  # from the state it returns
            self.state = self.trainer.prepare_for_eval(params, model_state, opt_state, self.step)
            clock.stop(self.state[0], self.state[2])
            params, model_state = self.trainer.eval_view(self.state[0], self.state[1])
        elif self.submission.eval_params is not None:  # the hook is the submission's work: timed
            clock.start()
            params = self.submission.eval_params(params, opt_state)
            clock.stop(params)
        eval_start = self.timer()
        row: dict[str, float] = {"step": self.step, "submission_time": clock.elapsed}
        validation = self.workload.evaluate(params, model_state, "validation")
        row.update({f"validation/{key}": value for key, value in validation.items()})
        hit = self.settings.stop_at_target and self.workload.target_reached(validation)
        if self.test_due(ends_trial=hit or last):
            row.update({f"test/{key}": value for key, value
                        in self.workload.evaluate(params, model_state, "test").items()})
        if self.curve.loss:
            row["train/loss"] = float(np.mean(self.curve.loss[-50:]))
        row["eval_seconds"] = self.timer() - eval_start
        result.eval_time += row["eval_seconds"]
        result.evals.append(row)
        if self.trainer is not None:
            self.trainer.observe_eval(self.step, row)
        self.check_untouched()  # eval_params ran the submission's code
        self.notify("eval", row)
        return hit

    def pace_reference(self) -> None:
        """Clock in reference seconds: train the reference point for its share of the seconds
        timed so far, and count the next spans at the rate it now gives (`bench.speed`). Called
        after every chunk, before any evaluation, so that the reference's chunks fall between
        the trial's own, at the machine's speed of that moment and with the caches in the
        state training leaves them (one of its chunks about every tenth of the trial's)."""
        if self.reference is None:
            return
        self.reference.catch_up(self.clock.machine_seconds)
        self.clock.rate = self.reference.rate
        self.result.reference_step_seconds = self.reference.step_seconds
        self.result.clock_rate = self.clock.rate

    def test_due(self, ends_trial: bool) -> bool:
        """Whether this evaluation also covers the test split (the resolved `ProtocolSettings`)."""
        settings = self.settings
        return settings.evaluate_test and (settings.test_every_evaluation or ends_trial)

    def decide(self) -> bool:
        """After a chunk: diverged, evaluate if due, hit or out of budget. True to stop."""
        settings, clock = self.settings, self.clock
        if self.bad_step is not None:
            loss = self.curve.loss[self.curve.step.index(self.bad_step)]
            self.stop(Outcome.DIVERGED, f"training loss became {loss} at step {self.bad_step}")
            return True
        out_of_time = clock.elapsed >= settings.max_runtime
        out_of_budget = out_of_time or (
            settings.max_steps is not None and self.step >= settings.max_steps)
        if out_of_time and not settings.eval_past_budget:  # the rules allow no evaluation now
            self.stop(Outcome.BUDGET, f"budget of {settings.max_runtime:g}s spent at "
                                      f"{clock.elapsed:.1f}s ({self.step} steps); no evaluation "
                                      "past the budget under these rules")
            return True
        if not (self.eval_due() or out_of_budget):
            return False
        while self.next_eval <= clock.elapsed:
            self.next_eval += settings.eval_period
        if self.evaluate(last=out_of_budget):
            self.stop(Outcome.HIT)
            return True
        if out_of_budget:
            self.stop(Outcome.BUDGET, f"target not reached within {clock.elapsed:.1f}s of "
                                      f"submission time ({self.step} steps)" if out_of_time else
                      f"max_steps: target not reached within the step limit of {self.step} "
                      f"steps ({clock.elapsed:.1f}s of submission time, before the time budget)")
        return out_of_budget

    def stop(self, outcome: Outcome, message: str = "") -> None:
        self.result.outcome, self.result.message = outcome, message
        if outcome is Outcome.HIT:
            self.result.time_to_target = self.clock.elapsed
            self.result.steps_to_target = self.step

    def finish(self) -> None:
        self.result.steps = self.step
        self.result.submission_time = self.clock.elapsed
        self.result.train_curve = self.curve.binned()

    # ----------------------------------------------------------------------- checkpoints

    def save_checkpoint(self) -> None:
        result = self.result
        wall_at_start = getattr(self, "wall_at_start", self.timer())
        meta = {
            "hparams": result.hparams, "seed": result.seed, "step": self.step,
            "settings": dataclasses.asdict(self.settings),
            "next_eval": self.next_eval, "submission_time": self.clock.elapsed,
            "eval_time": result.eval_time, "evals": result.evals,
            "compile_time": result.compile_time, "resumed": result.resumed,
            "data_wait_time": result.data_wait_time,
            "wall_time": result.wall_time + self.timer() - wall_at_start,
            "curve": dataclasses.asdict(self.curve),
        }
        ckpt.save(self.plan.path, self.state, meta)

    def save_interrupted(self) -> None:
        """Ctrl-C or SIGTERM: keep the steps already dispatched, then save a checkpoint."""
        if self.clock.running:  # interrupted mid-chunk
            self.clock.stop(self.state[0], self.state[2])
        self.absorb()
        self.save_checkpoint()
