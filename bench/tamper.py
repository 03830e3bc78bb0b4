"""Tamper evidence: fingerprints of the harness objects the protocol's results depend on.

A trial process runs contributed code beside the harness, so the submission could patch what
decides its result: the clock that counts submission time, the test of the validation target,
the workload's spec (its target), the training step, the timer. `fingerprint` condenses each
of these into identities that cheaply detect a change: the identity of every function and of
its code, defaults and closure; the callables an instance holds in place of its class's
methods; the spec's field values. The training loop takes one before the submission is
imported (`note_before_import`, in the trial process) or before it is built, then compares
after setup and after every chunk of steps (`changed`): any difference ends the trial with
outcome `tampered`, naming what changed.

This is evidence, not a sandbox: code that patches and restores between two comparisons, or
that edits numbers the harness keeps, is not seen here. Records are still vouched for against
the current definitions (`bench.trust`), and `bench ci` scores only records it wrote itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import jax
import optax

from bench import protocol, speed, workload as workload_module

Fingerprint = dict[str, Any]


def function_identity(func: Any) -> tuple:
    """Identities of a function and what decides its behaviour (code, defaults, closure)."""
    func = getattr(func, "__func__", func)  # bound and class methods: the function itself
    if isinstance(func, property):
        return tuple(function_identity(part) for part in (func.fget, func.fset, func.fdel))
    cells = []
    for cell in getattr(func, "__closure__", None) or ():
        try:
            cells.append(id(cell.cell_contents))
        except ValueError:  # an empty cell
            cells.append(None)
    return (id(func), id(getattr(func, "__code__", None)), id(getattr(func, "__defaults__", None)),
            id(getattr(func, "__kwdefaults__", None)), tuple(cells))


def class_identity(cls: type) -> dict[str, tuple]:
    """`Class.member` -> identity, for every member of `cls` and its bases but `object`."""
    members = {}
    for klass in cls.__mro__[:-1]:
        for name, value in vars(klass).items():
            if not name.startswith("__") or name == "__call__":
                members[f"{klass.__name__}.{name}"] = function_identity(value)
    return members


def instance_overrides(obj: Any) -> dict[str, tuple]:
    """Instance attributes that shadow a method or property of the class (patched methods)."""
    cls = type(obj)
    return {f"{cls.__name__}().{name}": function_identity(value)
            for name, value in vars(obj).items()
            if callable(getattr(cls, name, None)) or isinstance(getattr(cls, name, None), property)}


def spec_fields(spec: Any) -> str:
    """The spec's field values (a frozen dataclass can still be set with object.__setattr__)."""
    return repr(sorted(vars(spec).items()))


TIMING_FUNCTIONS: dict[str, Callable[[], Any]] = {
    "time.perf_counter": lambda: time.perf_counter,
    "time.monotonic": lambda: time.monotonic,
    "jax.block_until_ready": lambda: jax.block_until_ready,
    "jax.value_and_grad": lambda: jax.value_and_grad,
    "jax.jit": lambda: jax.jit,
    "optax.apply_updates": lambda: optax.apply_updates,
}


def fingerprint(workload: Any, clock: Any = None, train_step: Any = None,
                reference: Any = None) -> Fingerprint:
    """The identities of the objects a trial's result depends on, by name.

    `workload`: its class's methods (the target test, evaluation, loss), methods patched on the
    instance, its spec's values. `clock` (a `SubmissionClock`): its class and the callables the
    instance holds (its timer). `train_step`: the step function. `reference` (a
    `bench.speed.ReferenceSteps`, which sets the clock's rate): the callables it holds (its timer,
    its training step). Always: the classes of the clock and of the reference steps, and the
    timing and differentiation functions the harness calls through their modules.
    """
    found: Fingerprint = {"spec": spec_fields(workload.spec), "spec object": id(workload.spec)}
    found.update(class_identity(type(workload)))
    found.update(class_identity(workload_module.Workload))
    found.update(instance_overrides(workload))
    found.update(class_identity(protocol.SubmissionClock))
    if clock is not None:
        found["clock class"] = id(type(clock))
        found.update({f"clock.{name}": function_identity(value)
                      for name, value in vars(clock).items() if callable(value)})
    found.update(class_identity(speed.ReferenceSteps))
    if reference is not None:
        found["reference class"] = id(type(reference))
        found.update({f"reference.{name}": function_identity(value)
                      for name, value in vars(reference).items() if callable(value)})
    if train_step is not None:
        found["train step"] = function_identity(train_step)
    for name, get in TIMING_FUNCTIONS.items():
        found[name] = function_identity(get())
    return found


def changed(before: Fingerprint, after: Fingerprint) -> list[str]:
    """The names whose identity differs between two fingerprints (present in either)."""
    return sorted(name for name in before.keys() | after.keys()
                  if before.get(name) != after.get(name))


def python_threads() -> set[int]:
    """Identifiers of the Python threads alive now."""
    return {thread.ident for thread in threading.enumerate()}


_BEFORE_IMPORT: dict[int, tuple[Fingerprint, set[int]]] = {}


def note_before_import(workload: Any) -> None:
    """Remember `workload`'s fingerprint and the live threads before a submission is imported
    into this process (called by the trial process)."""
    _BEFORE_IMPORT[id(workload)] = (fingerprint(workload), python_threads())


def before_import(workload: Any) -> tuple[Fingerprint, set[int]] | None:
    """What `note_before_import` saw for `workload`, or None when it was not called."""
    return _BEFORE_IMPORT.get(id(workload))


class TamperedError(RuntimeError):
    """The harness objects changed while a submission was loaded; the message names them."""


def verify(noted: Fingerprint, workload: Any, clock: Any = None, train_step: Any = None,
           when: str = "", reference: Any = None) -> None:
    """Raise `TamperedError` when the objects differ from what `noted` fingerprinted."""
    names = changed(noted, fingerprint(workload, clock, train_step, reference))
    if names:
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        raise TamperedError(f"harness objects changed {when}: {shown}".replace("  ", " "))
